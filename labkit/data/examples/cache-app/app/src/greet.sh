# helpers for main.sh
GREETING=hello
