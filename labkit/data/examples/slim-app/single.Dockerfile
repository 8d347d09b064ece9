# Lesson 07, one stage: the toolchain and the sources ship with the app
FROM labkit/base
RUN mkdir -p /toolchain && dd if=/dev/zero of=/toolchain/cc bs=1024 count=400 2>/dev/null
COPY src/ /src/
RUN mkdir -p /out && cat /src/greet.sh /src/main.sh > /out/app && chmod 755 /out/app
CMD ["/out/app"]
