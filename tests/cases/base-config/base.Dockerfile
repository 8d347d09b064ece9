ENV D=/data SUB=inner
WORKDIR /srv
SHELL ["/bin/sh", "-ec"]
