package org.xraydl.ui;

import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import org.deeplearning4j.core.storage.StatsStorage;
import org.deeplearning4j.ui.VertxUIServer;
import org.deeplearning4j.ui.api.UIServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;
import org.xraydl.net.ListenAddress;
import org.xraydl.net.ListeningServer;

import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The DL4J training UI (Vert.x) on one address and port, with its lifecycle in our hands: it starts
 * or fails with one clear line, and {@link #close()} stops it, since Vert.x threads are not daemons and
 * would otherwise keep the JVM alive. One per JVM (DL4J's UI is a singleton).
 *
 * <p>Besides DL4J's pages ({@code /train/overview}, ...) it serves the PNG charts of a run folder under
 * {@code /run} (see {@link RunFilesRoutes}). No request path can step outside what a route serves
 * ({@link RequestPathGuard}, {@link UiAssets}).
 */
public final class UiServer implements AutoCloseable, ListeningServer {
    private static final Logger log = LoggerFactory.getLogger(UiServer.class);

    public static final int DEFAULT_PORT = 9000;
    public static final String DEFAULT_HOST = "127.0.0.1";
    static final long START_TIMEOUT_SECONDS = 120;

    private final Vertx vertx;
    private final BoundUIServer server;
    private final String host;
    private final RunFilesRoutes runFiles;
    private volatile boolean closed;

    private UiServer(Vertx vertx, BoundUIServer server, String host, RunFilesRoutes runFiles) {
        this.vertx = vertx;
        this.server = server;
        this.host = host;
        this.runFiles = runFiles;
    }

    /**
     * Starts the UI on {@code host:port} (port 0: any free port) and waits until it listens.
     *
     * @param portOption the command-line option that sets the port, named in the error when the port is taken
     * @throws UserError if the port is in use, the host is not an address of this machine, or a UI already runs here
     */
    public static synchronized UiServer start(String host, int port, String portOption) {
        ListenAddress.check(host, port, "UI host", portOption);
        VertxUIServer existing = VertxUIServer.getInstance();
        if (existing != null && !existing.isStopped()) {
            throw new UserError("a DL4J UI server already runs in this process (port " + existing.getPort() + "): stop it first");
        }
        RunFilesRoutes runFiles = new RunFilesRoutes();
        Vertx vertx = Vertx.vertx();
        BoundUIServer server = new BoundUIServer(host, port, router -> install(router, runFiles));
        CompletableFuture<String> deployed = new CompletableFuture<>();
        vertx.deployVerticle(server, ar -> {
            if (ar.succeeded()) {
                deployed.complete(ar.result());
            } else {
                deployed.completeExceptionally(ar.cause());
            }
        });
        try {
            deployed.get(START_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            shutDown(vertx);
            throw startFailure(host, port, portOption, e.getCause());
        } catch (TimeoutException e) {
            shutDown(vertx);
            throw new UserError("the UI server did not start on " + ListenAddress.hostPort(host, port) + " within " + START_TIMEOUT_SECONDS + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            shutDown(vertx);
            throw new UserError("interrupted while starting the UI server");
        }
        UiServer ui = new UiServer(vertx, server, host, runFiles);
        log.debug("UI server listening on {}", ui.baseUrl());
        return ui;
    }

    /**
     * Our routes on DL4J's router. The first two come before all of DL4J's (negative order): every
     * request path is checked ({@link RequestPathGuard}), and {@code /assets/*} is served from the
     * classpath ({@link UiAssets}) instead of by DL4J's handler, which followed {@code ..}.
     */
    private static void install(Router router, RunFilesRoutes runFiles) {
        router.route().order(-2).handler(RequestPathGuard::handle);
        router.get(UiAssets.ROUTE).order(-1).handler(new UiAssets()::handle);
        runFiles.install(router);
    }

    private static UserError startFailure(String host, int port, String portOption, Throwable cause) {
        return ListenAddress.startFailure("the UI server", host, port, cause, "choose another with " + portOption
                + " (e.g. " + portOption + " " + (port == 65535 ? 9001 : port + 1) + "), or stop what listens there");
    }

    /** Stops a Vert.x that never finished deploying, and forgets DL4J's half-made singleton. */
    private static void shutDown(Vertx vertx) {
        try {
            VertxUIServer.stopInstance();
        } catch (Exception e) {
            log.debug("stopping the UI singleton: {}", e.toString());
        }
        ListenAddress.closeAndWait(vertx).ifPresent(e -> log.debug("closing Vert.x: {}", e.toString()));
    }

    @Override
    public int port() {
        return server.getPort();
    }

    @Override
    public String host() {
        return host;
    }

    public String overviewUrl() {
        return baseUrl() + "/train/overview";
    }

    public String chartsUrl() {
        return baseUrl() + RunFilesRoutes.PAGE;
    }

    /** Shows a storage's sessions in the UI (live: new records appear as they are written). */
    public void attach(StatsStorage storage) {
        server.attach(storage);
    }

    public void detach(StatsStorage storage) {
        server.detach(storage);
    }

    /** Accepts stats posted by {@code RemoteUIStatsStorageRouter}s (train --ui-remote) into {@code storage}. */
    public void enableRemoteListener(StatsStorage storage) {
        server.enableRemoteListener(storage, true);
    }

    public boolean isRemoteListenerEnabled() {
        return server.isRemoteListenerEnabled();
    }

    /** Serves this run folder's charts under {@code /run}. */
    public void showRun(Path runDir) {
        runFiles.show(runDir);
    }

    public boolean isStopped() {
        return closed || server.isStopped();
    }

    /** Blocks until the JVM is stopped (Ctrl-C), for commands that only serve. */
    public void awaitTermination() throws InterruptedException {
        Thread hook = new Thread(this::close, "xraydl-ui-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        while (!isStopped()) {
            Thread.sleep(1000);
        }
    }

    /** Stops the server and its Vert.x threads; the port is free afterwards. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (VertxUIServer.getInstance() == server) {
                UIServer.stopInstance();
            } else {
                server.stop();
            }
        } catch (Exception e) {
            log.warn("stopping the UI server: {}", e.toString());
        }
        // stop() closes Vert.x through the verticle; closing again is a no-op but waits for it.
        ListenAddress.closeAndWait(vertx).ifPresent(e ->
                log.warn("the UI server did not stop within {} s: {}", ListenAddress.CLOSE_TIMEOUT_SECONDS, e.toString()));
    }
}
