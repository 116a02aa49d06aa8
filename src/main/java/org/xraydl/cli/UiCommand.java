package org.xraydl.cli;

import org.xraydl.ui.RunViewer;
import org.xraydl.ui.UiServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** ui: the DL4J training UI for a finished run (its stats.dl4j and charts), or for trainings elsewhere. */
@Command(name = "ui", mixinStandardHelpOptions = true,
        description = {"Serve a run's recorded training stats (runs/<name>/stats.dl4j) and charts in the DL4J UI,",
                "and/or receive stats from trainings started with --ui-remote. Runs until Ctrl-C."})
public class UiCommand implements Callable<Integer> {

    @Parameters(arity = "0..1", paramLabel = "RUN_DIR", description = "Run folder with stats.dl4j, e.g. runs/densenet")
    Path runDir;
    @Option(names = "--port", description = "TCP port (default ${DEFAULT-VALUE}; 0 = any free port)", defaultValue = "9000")
    int port = UiServer.DEFAULT_PORT;
    @Option(names = "--host", description = "Address to listen on (default ${DEFAULT-VALUE}, this machine only; 0.0.0.0 = all interfaces)",
            defaultValue = UiServer.DEFAULT_HOST)
    String host = UiServer.DEFAULT_HOST;
    @Option(names = "--remote-listener", description = "Accept stats posted by train --ui-remote http://<this host>:<port>")
    boolean remoteListener;

    @Override
    public Integer call() throws InterruptedException {
        try (RunViewer viewer = RunViewer.start(runDir, remoteListener, host, port, System.out, System.err)) {
            System.out.println("press Ctrl-C to stop");
            System.out.flush();
            viewer.server().awaitTermination();
        }
        return 0;
    }
}
