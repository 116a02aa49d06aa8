package org.xraydl.ui;


import org.deeplearning4j.core.storage.StatsStorageRouter;
import org.deeplearning4j.core.storage.impl.RemoteUIStatsStorageRouter;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.stats.impl.DefaultStatsUpdateConfiguration;
import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.net.ListenAddress;
import org.xraydl.run.RunDirectory;
import org.xraydl.train.RunDirectoryAware;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Optional;

/**
 * Everything the UI flags of {@code train} set up around one training run: the UI server (started
 * before anything else, so a taken port stops the command before training), a {@link StatsListener}
 * for the network or every ParallelWrapper worker, the run's {@value RunStats#FILE} and a remote UI.
 *
 * <p>Use: {@code start(settings)}, pass {@link #listeners()} to {@code Trainer.Options}, train, then
 * {@link #close()} (or {@link #keepServing()} for --ui-keep).
 */
public final class TrainingUi implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TrainingUi.class);

    /**
     * @param serve  start a UI server in this process (--ui)
     * @param host   address it listens on (--ui-host)
     * @param port   its port, 0 for any free one (--ui-port)
     * @param remote a UI in another process to send stats to (--ui-remote), or null
     * @param record save stats to the run folder even without a UI (--stats); serve or remote imply it
     */
    public record Settings(boolean serve, String host, int port, String remote, boolean record) {
        public static Settings serving(String host, int port) {
            return new Settings(true, host, port, null, true);
        }

        /** True when any stats are collected at all. */
        public boolean active() {
            return serve || remote != null || record;
        }
    }

    private final Settings settings;
    private final PrintStream out;
    private final UiServer server;
    private final FanOutStatsRouter router = new FanOutStatsRouter();
    private final RunStatsListener listener;
    private RemoteUIStatsStorageRouter remote;
    private FileStatsStorage storage;
    private Path runDir;

    private TrainingUi(Settings settings, PrintStream out, UiServer server) {
        this.settings = settings;
        this.out = out;
        this.server = server;
        this.listener = new RunStatsListener(router, this);
    }

    /**
     * Starts the server (if asked) and checks the remote UI (if given). A port in use is a
     * {@link org.xraydl.UserError}; an unreachable remote UI is only a warning on {@code err}.
     */
    public static TrainingUi start(Settings s, PrintStream out, PrintStream err) {
        String remoteUrl = s.remote() == null ? null : RemoteStats.normalize(s.remote());
        UiServer server = null;
        if (s.serve()) {
            server = UiServer.start(s.host(), s.port(), "--ui-port");
        }
        TrainingUi ui = new TrainingUi(s, out, server);
        if (server != null) {
            if (!server.loopbackOnly()) {
                err.println("warning: the training UI listens on " + ListenAddress.hostPort(s.host(), server.port())
                        + ", reachable from other machines: anyone who can connect sees the training stats"
                        + " (the default --ui-host 127.0.0.1 keeps it on this machine)");
            }
            out.println("DL4J training UI: " + server.overviewUrl() + "  (charts: " + server.chartsUrl() + ")");
        }
        if (remoteUrl != null) {
            Optional<String> problem = RemoteStats.probe(remoteUrl);
            if (problem.isPresent()) {
                err.println("warning: the remote UI at " + remoteUrl + " cannot take stats (" + problem.get()
                        + "); training goes on without it");
            } else {
                ui.remote = RemoteStats.router(remoteUrl);
                ui.router.add(ui.remote);
                out.println("sending training stats to the remote UI at " + remoteUrl + "/train/overview");
            }
        }
        return ui;
    }

    /** The listeners to give Trainer.Options: one StatsListener (cloned per worker by ParallelWrapper). */
    public List<TrainingListener> listeners() {
        return settings.active() ? List.of(listener) : List.of();
    }

    public Optional<UiServer> server() {
        return Optional.ofNullable(server);
    }

    /** The run's stats file, once the trainer has made the run folder. */
    public Optional<Path> statsFile() {
        return runDir == null ? Optional.empty() : Optional.of(RunStats.file(runDir));
    }

    /** Called by the trainer when the run folder exists: open stats.dl4j there and show it in the UI. */
    synchronized void runDirectoryReady(RunDirectory dir) {
        if (storage != null) {
            return;
        }
        runDir = dir.path();
        storage = RunStats.open(runDir);
        router.add(storage);
        listener.setSessionID(dir.path().toAbsolutePath().getFileName() + "_"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        if (server != null) {
            server.attach(storage);
            server.showRun(runDir);
        }
        log.info("training stats go to {}", RunStats.file(runDir));
    }

    /** For --ui-keep: serve until the JVM is stopped (Ctrl-C). */
    public void keepServing() throws InterruptedException {
        if (server == null) {
            return;
        }
        out.println("training finished; the UI stays at " + server.overviewUrl() + " until Ctrl-C");
        out.flush();
        server.awaitTermination();
    }

    /** Sends what is still queued for the remote UI, closes stats.dl4j and stops the server. */
    @Override
    public synchronized void close() {
        if (remote != null) {
            RemoteStats.drain(remote, 10_000);
            remote.shutdown();
            router.remove(remote);
        }
        if (server != null) {
            server.close();
        }
        if (storage != null) {
            router.remove(storage);
            try {
                storage.close();
            } catch (RuntimeException e) {
                log.warn("closing {}: {}", RunStats.file(runDir), e.toString());
            }
        }
    }

    StatsStorageRouter router() {
        return router;
    }

    /** The UI's StatsListener; it also learns the run folder from the trainer. */
    static final class RunStatsListener extends StatsListener implements RunDirectoryAware {
        private final transient TrainingUi owner;

        RunStatsListener(StatsStorageRouter router, TrainingUi owner) {
            // Every iteration: DL4J's default (every 10th) shows nothing at all for short runs.
            super(router, null, new DefaultStatsUpdateConfiguration.Builder().reportingFrequency(1).build(), null, null);
            this.owner = owner;
        }

        @Override
        public void runDirectoryReady(RunDirectory dir) {
            owner.runDirectoryReady(dir);
        }
    }
}
