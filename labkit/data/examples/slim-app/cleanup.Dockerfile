# Lesson 07, one stage with a clean-up step: the deleted files still ship in their layers
FROM labkit/base
RUN mkdir -p /toolchain && dd if=/dev/zero of=/toolchain/cc bs=1024 count=400 2>/dev/null
COPY src/ /src/
RUN mkdir -p /out && cat /src/greet.sh /src/main.sh > /out/app && chmod 755 /out/app
RUN rm /toolchain/cc /src/greet.sh /src/main.sh
CMD ["/out/app"]
