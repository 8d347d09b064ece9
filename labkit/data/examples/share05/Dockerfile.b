# Lesson 05, image B: the same first step as A, then a different one
FROM labkit/base
COPY shared.txt /srv/shared.txt
RUN mkdir -p /srv/b && echo "made for B" > /srv/b/own.txt
