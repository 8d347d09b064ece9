#!/bin/sh
echo "hello from the capstone app"
