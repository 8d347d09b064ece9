#!/bin/sh
echo "hello from the cache lesson"
