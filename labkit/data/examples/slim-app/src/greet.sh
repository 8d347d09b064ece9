#!/bin/sh
NAME="slim app"
