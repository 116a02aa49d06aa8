package org.xraydl.net;

/** A server listening on {@link #host()}:{@link #port()}; what follows from the address is defined once here. */
public interface ListeningServer {
    /** The port it listens on (the real one when started with port 0). */
    int port();

    String host();

    /** True when only this machine can connect. */
    default boolean loopbackOnly() {
        return ListenAddress.isLoopback(host());
    }

    /** A URL to open in a browser on this machine. */
    default String baseUrl() {
        return ListenAddress.localUrl(host(), port());
    }
}
