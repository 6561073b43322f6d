# mcp-authz container image: built with the static Swift standard library, run as non-root
# from a slim Debian. The image holds no policy: mount yours at /etc/mcp-authz/policies.
# Build: swift package resolve && docker build -t mcp-authz .   (Package.resolved, when present,
#        pins every dependency to the versions you tested)
# Run:   docker run -p 9090:9090 -v $PWD/policies:/etc/mcp-authz/policies:ro mcp-authz
# Audit records go to stdout (the default) for the log shipper; logs go to stderr.

FROM swift:6.3-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not refetch them.
COPY Package.swift Package.resolve[d] ./
RUN swift package resolve
COPY Plugins ./Plugins
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product mcp-authz \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/mcp-authz" /out/mcp-authz

FROM debian:bookworm-slim
# What the statically linked binary still loads: libstdc++, libgcc, zlib (and libc).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libstdc++6 zlib1g \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/mcp-authz /usr/local/bin/mcp-authz
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/mcp-authz"]
CMD ["serve", "--policies", "/etc/mcp-authz/policies", "--listen", "0.0.0.0:9090"]
