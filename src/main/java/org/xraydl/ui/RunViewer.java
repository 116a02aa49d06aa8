package org.xraydl.ui;

import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import org.xraydl.UserError;
import org.xraydl.net.ListenAddress;
import org.xraydl.report.Charts;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The {@code ui} command's work: serve a finished run's {@value RunStats#FILE} and charts, and/or
 * accept stats from trainings elsewhere ({@code --remote-listener}).
 */
public final class RunViewer implements AutoCloseable {
    private final UiServer server;
    private final FileStatsStorage runStats;
    private final InMemoryStatsStorage received;

    private RunViewer(UiServer server, FileStatsStorage runStats, InMemoryStatsStorage received) {
        this.server = server;
        this.received = received;
        this.runStats = runStats;
    }

    /**
     * @param runDir         a run folder with stats.dl4j, or null
     * @param remoteListener accept stats posted by {@code train --ui-remote}
     */
    public static RunViewer start(Path runDir, boolean remoteListener, String host, int port, PrintStream out, PrintStream err) {
        if (runDir == null && !remoteListener) {
            throw new UserError("ui needs a run folder (ui runs/<name>) or --remote-listener");
        }
        FileStatsStorage stats = null;
        if (runDir != null) {
            stats = RunStats.openExisting(runDir); // before the server: a bad folder fails without starting anything
            redrawMissingCharts(runDir, err);
        }
        UiServer server;
        try {
            server = UiServer.start(host, port, "--port");
        } catch (RuntimeException e) {
            if (stats != null) {
                stats.close();
            }
            throw e;
        }
        if (!server.loopbackOnly()) {
            err.println("warning: the UI listens on " + ListenAddress.hostPort(host, server.port())
                    + ", reachable from other machines" + (remoteListener ? ", and any of them can post stats to it" : "")
                    + " (the default --host 127.0.0.1 keeps it on this machine)");
        }
        InMemoryStatsStorage received = null;
        if (stats != null) {
            server.attach(stats);
            server.showRun(runDir);
            out.println("serving " + RunStats.file(runDir) + " (" + stats.listSessionIDs().size() + " session(s))");
            out.println("DL4J training UI: " + server.overviewUrl() + "  (charts: " + server.chartsUrl() + ")");
        }
        if (remoteListener) {
            received = new InMemoryStatsStorage();
            server.enableRemoteListener(received);
            out.println("accepting remote stats: train with --ui-remote " + server.baseUrl()
                    + (server.loopbackOnly() ? " (this machine only; --host 0.0.0.0 for other machines)" : ""));
            if (stats == null) {
                out.println("DL4J training UI: " + server.overviewUrl());
            }
        }
        return new RunViewer(server, stats, received);
    }

    /** A run from before charts existed, or with a chart deleted: draw them from its files. */
    private static void redrawMissingCharts(Path runDir, PrintStream err) {
        boolean missing = Charts.FILES.stream().anyMatch(f -> !Files.isRegularFile(runDir.resolve(f)));
        if (missing) {
            try {
                Charts.writeAll(runDir);
            } catch (UserError e) {
                err.println("warning: no charts for " + runDir + ": " + e.getMessage());
            }
        }
    }

    public UiServer server() {
        return server;
    }

    /** Stats received from remote trainings (null without --remote-listener). */
    public InMemoryStatsStorage received() {
        return received;
    }

    @Override
    public void close() {
        server.close();
        if (runStats != null) {
            runStats.close();
        }
    }
}
