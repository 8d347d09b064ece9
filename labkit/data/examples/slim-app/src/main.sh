echo "hello from the $NAME"
