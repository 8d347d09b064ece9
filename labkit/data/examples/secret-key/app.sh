#!/bin/sh
echo "app running with:"
cat /app/deps.txt
