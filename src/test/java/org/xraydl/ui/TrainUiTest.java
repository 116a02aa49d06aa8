package org.xraydl.ui;

import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.report.Charts;

import javax.imageio.ImageIO;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** train with the UI flags, end to end through the CLI on a few batches of the bundled sample. */
class TrainUiTest {

    @Test
    void trainWithUiCoversBothParallelWrapperWorkersSavesStatsAndChartsAndStopsTheServer(@TempDir Path tmp) throws Exception {
        int port = UiTestSupport.freePort();
        int nobody = UiTestSupport.freePort(); // nothing listens there: the remote UI cannot be reached
        Path out = tmp.resolve("run");
        List<String> args = UiTestSupport.quickTrain(out);
        args.addAll(List.of("--workers", "2", "--ui", "--ui-port", String.valueOf(port),
                "--ui-remote", "http://127.0.0.1:" + nobody));

        UiTestSupport.Run r = UiTestSupport.cli(args);

        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("DL4J training UI: http://127.0.0.1:" + port + "/train/overview"), r.out());
        assertTrue(r.err().lines().anyMatch(l -> l.startsWith("warning: the remote UI at http://127.0.0.1:" + nobody)
                && l.contains("training goes on")), r.err());

        // Stats of every ParallelWrapper worker in the run's stats.dl4j.
        Path stats = out.resolve(RunStats.FILE);
        assertTrue(Files.isRegularFile(stats));
        FileStatsStorage s = new FileStatsStorage(stats.toFile());
        try {
            assertEquals(1, s.listSessionIDs().size());
            String session = s.listSessionIDs().get(0);
            assertTrue(session.startsWith("run_"), session);
            List<String> workers = s.listWorkerIDsForSessionAndType(session, StatsListener.TYPE_ID);
            assertEquals(2, workers.size(), "one StatsListener per worker: " + workers);
            for (String w : workers) {
                assertTrue(s.getNumUpdateRecordsFor(session, StatsListener.TYPE_ID, w) >= 1, "no score from worker " + w);
            }
        } finally {
            s.close();
        }

        for (String png : Charts.FILES) {
            assertNotNull(ImageIO.read(out.resolve(png).toFile()), png);
        }
        // The server is gone with the training: the port is free and no Vert.x thread holds the JVM.
        assertTrue(UiTestSupport.portFree(port), "port " + port + " still taken");
        assertTrue(UiTestSupport.eventually(30, () -> UiTestSupport.nonDaemonVertxThreads().isEmpty()),
                UiTestSupport.nonDaemonVertxThreads().toString());
    }

    @Test
    void aTakenPortStopsTrainBeforeItWritesAnything(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            int port = taken.getLocalPort();
            List<String> args = UiTestSupport.quickTrain(out);
            args.addAll(List.of("--ui", "--ui-port", String.valueOf(port)));

            UiTestSupport.Run r = UiTestSupport.cli(args);

            assertEquals(2, r.exitCode());
            List<String> errLines = r.err().lines().filter(l -> !l.isBlank()).toList();
            assertEquals(1, errLines.size(), r.err());
            assertTrue(errLines.get(0).startsWith("error: port " + port + " is already in use") && errLines.get(0).contains("--ui-port"),
                    errLines.get(0));
            assertFalse(r.out().contains("epoch"), r.out());
        }
        assertFalse(Files.exists(out), "training started half-way: " + out + " was created");
    }

    /**
     * A run the configuration alone rules out is refused before the UI server starts: one line on stderr, exit code 2,
     * no URL printed (the server never started), no run folder.
     */
    @Test
    void refusalsFromTheConfigurationComeBeforeTheUiStarts(@TempDir Path tmp) throws Exception {
        Path old = tmp.resolve("old");
        Files.createDirectories(old);
        Files.writeString(old.resolve("config.yaml"), org.xraydl.config.ConfigLoader.toYaml(org.xraydl.TestData.tinyConfig(
                java.util.Map.of("data", UiTestSupport.dataDir().toString(), "out", old.toString()))));
        Path out = tmp.resolve("run");
        java.util.Map<String, List<String>> refused = new java.util.LinkedHashMap<>();
        refused.put("error: emaDecay needs the local engine", List.of("--set", "emaDecay=0.9", "--set", "workers=2"));
        refused.put("error: --featurize needs a frozen trunk", List.of("--featurize", "--freeze-trunk", "false"));
        refused.put("error: unknown model 'resnet50'", List.of("--model", "resnet50"));
        refused.put("error: vgg16 with ImageNet weights needs imageSize 224", List.of("--model", "vgg16", "--weights", "imagenet"));
        refused.put("error: ImageNet weights exist for densenet121 only", List.of("--model", "densenet", "--weights", "imagenet"));
        int port = UiTestSupport.freePort();
        for (var e : refused.entrySet()) {
            List<String> args = UiTestSupport.quickTrain(out);
            args.addAll(e.getValue());
            args.addAll(List.of("--ui", "--ui-port", String.valueOf(port)));
            assertRefusedBeforeTheUi(UiTestSupport.cli(args), e.getKey(), e.getValue().toString());
        }
        // --resume arguments that are not a run's existing last.zip (the run's config.yaml is fine).
        for (String[] resume : new String[][]{{"best.zip", "error: --resume takes a run's last.zip"}, {"last.zip", "file not found"}}) {
            assertRefusedBeforeTheUi(UiTestSupport.cli(List.of("train", "--resume", old.resolve(resume[0]).toString(), "--no-progress",
                    "--ui", "--ui-port", String.valueOf(port))), resume[1], resume[0]);
        }
        assertFalse(Files.exists(out), "no run folder for a run that cannot start");
        assertEquals(List.of(old.resolve("config.yaml")), Files.list(old).toList(), "nothing written into the resumed run");
        assertTrue(UiTestSupport.portFree(port));
    }

    private static void assertRefusedBeforeTheUi(UiTestSupport.Run r, String message, String what) {
        assertEquals(2, r.exitCode(), what + ": " + r.err());
        List<String> errLines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, errLines.size(), what + ": " + r.err());
        assertTrue(errLines.get(0).startsWith("error: ") && errLines.get(0).contains(message), what + ": " + errLines.get(0));
        assertFalse(r.out().contains("training UI"), what + ": the UI server was started: " + r.out());
        assertTrue(r.out().isBlank(), what + ": " + r.out());
    }

    @Test
    void uiOptionsWithoutUiAreRefused(@TempDir Path tmp) {
        List<String> args = UiTestSupport.quickTrain(tmp.resolve("run"));
        args.add("--ui-keep");
        UiTestSupport.Run r = UiTestSupport.cli(args);
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--ui-keep only applies with --ui"), r.err());
        assertFalse(Files.exists(tmp.resolve("run")));
    }

    @Test
    void trainSendsItsStatsToARemoteUi(@TempDir Path tmp) throws Exception {
        // The receiving UI: what `ui --remote-listener` runs (here in this JVM; the trainer starts no server).
        try (UiServer receiver = UiServer.start("127.0.0.1", 0, "--port")) {
            InMemoryStatsStorage received = new InMemoryStatsStorage();
            receiver.enableRemoteListener(received);
            Path out = tmp.resolve("run");
            List<String> args = UiTestSupport.quickTrain(out);
            args.addAll(List.of("--ui-remote", receiver.baseUrl()));

            UiTestSupport.Run r = UiTestSupport.cli(args);

            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.out().contains("sending training stats to the remote UI at " + receiver.baseUrl()), r.out());
            assertFalse(r.err().contains("warning"), r.err());
            assertTrue(UiTestSupport.eventually(30, () -> !received.listSessionIDs().isEmpty()
                    && received.getNumUpdateRecordsFor(received.listSessionIDs().get(0)) >= 3), "3 iterations, fewer updates received");
            // Saved locally as well.
            assertTrue(Files.isRegularFile(out.resolve(RunStats.FILE)));
            assertFalse(receiver.isStopped(), "the trainer must not stop a UI it did not start");
        }
    }
}
