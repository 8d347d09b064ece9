#!/bin/sh
echo "capstone version 1"
