# Lesson 08, the fix: only a throw-away stage ever sees the key
FROM labkit/base AS fetch
COPY id_rsa /root/.ssh/id_rsa
RUN mkdir -p /out && cat /root/.ssh/id_rsa > /dev/null && echo "private dependencies fetched" > /out/deps.txt

FROM labkit/base
WORKDIR /app
COPY --from=fetch /out/deps.txt /app/deps.txt
COPY app.sh /app/app.sh
CMD ["sh", "/app/app.sh"]
