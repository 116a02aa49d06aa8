package org.xraydl.ui;

import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.report.Charts;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import javax.imageio.ImageIO;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.xraydl.ui.UiTestSupport.get;

/** The UI server, the ui command and remote stats, without training (small stats from a tiny network). */
class UiServerTest {
    private UiServer server;
    private RunViewer viewer;

    @AfterEach
    void stop() {
        if (viewer != null) {
            viewer.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void servesTheTrainingOverviewOnLoopbackOnlyAndFreesItsPortAndThreadsWhenClosed() throws Exception {
        server = UiServer.start("127.0.0.1", 0, "--ui-port");
        int port = server.port();
        assertTrue(port > 0);
        assertEquals("http://127.0.0.1:" + port + "/train/overview", server.overviewUrl());

        UiTestSupport.Http page = get(server.overviewUrl());
        assertEquals(200, page.code());
        assertTrue(page.text().contains("scoreiterchart"), "not DL4J's overview page");

        List<InetAddress> listening = UiTestSupport.listeningAddresses(port);
        if (Files.isReadable(Path.of("/proc/net/tcp"))) {
            assertFalse(listening.isEmpty(), "no listening socket found for port " + port);
            for (InetAddress a : listening) {
                assertTrue(a.isLoopbackAddress(), "port " + port + " listens on " + a.getHostAddress() + ", not loopback only");
            }
        }

        server.close();
        assertTrue(server.isStopped());
        assertTrue(UiTestSupport.portFree(port), "port " + port + " still taken after close()");
        assertTrue(UiTestSupport.eventually(30, () -> UiTestSupport.nonDaemonVertxThreads().isEmpty()),
                "Vert.x threads that keep the JVM alive: " + UiTestSupport.nonDaemonVertxThreads());
    }

    @Test
    void aPortInUseIsOneLineNamingThePortAndTheOptionAndAnotherStartStillWorks() throws Exception {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            int port = taken.getLocalPort();
            UserError e = assertThrows(UserError.class, () -> UiServer.start("127.0.0.1", port, "--ui-port"));
            assertTrue(e.getMessage().contains("port " + port) && e.getMessage().contains("--ui-port"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "more than one line: " + e.getMessage());
        }
        // The failed start left nothing behind: a new server starts in the same JVM.
        server = UiServer.start("127.0.0.1", 0, "--ui-port");
        assertEquals(200, get(server.overviewUrl()).code());
    }

    @Test
    void badPortsAndHostsAreUserErrors() throws Exception {
        assertTrue(assertThrows(UserError.class, () -> UiServer.start("127.0.0.1", 70000, "--ui-port")).getMessage().contains("--ui-port 70000"));
        // A documentation address (RFC 5737) that is not on this machine: binding fails locally, nothing is sent.
        String foreign = notOnThisMachine();
        String notHere = assertThrows(UserError.class, () -> UiServer.start(foreign, 0, "--ui-port")).getMessage();
        assertTrue(notHere.contains(foreign) && notHere.contains("127.0.0.1"), notHere);
        assertTrue(assertThrows(UserError.class, () -> UiServer.start("[zz", 0, "--ui-port")).getMessage().contains("[zz"));
    }

    private static String notOnThisMachine() throws java.net.SocketException, java.net.UnknownHostException {
        for (String a : List.of("203.0.113.77", "198.51.100.77", "192.0.2.254")) {
            if (java.net.NetworkInterface.getByInetAddress(InetAddress.getByName(a)) == null) {
                return a;
            }
        }
        throw new IllegalStateException("this machine has all the documentation addresses tried");
    }

    @Test
    void aWildcardHostIsReportedAsNotLoopbackAndWarnedAbout() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try (TrainingUi ui = TrainingUi.start(new TrainingUi.Settings(true, "0.0.0.0", 0, null, true),
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8))) {
            assertFalse(ui.server().orElseThrow().loopbackOnly());
            String warning = err.toString(StandardCharsets.UTF_8);
            assertTrue(warning.startsWith("warning:") && warning.contains("0.0.0.0") && warning.contains("--ui-host"), warning);
        }
    }

    @Test
    void remoteStatsArriveInAUiWithTheRemoteListener() throws Exception {
        server = UiServer.start("127.0.0.1", 0, "--port");
        assertTrue(RemoteStats.probe(server.baseUrl()).orElse("").contains("ui --remote-listener"),
                "a UI without the remote listener must be reported as refusing stats");

        InMemoryStatsStorage received = new InMemoryStatsStorage();
        server.enableRemoteListener(received);
        assertEquals(Optional.empty(), RemoteStats.probe(server.baseUrl()));

        var router = RemoteStats.router(server.baseUrl());
        UiTestSupport.recordStats(router, 4);
        RemoteStats.drain(router, 10_000);
        assertTrue(UiTestSupport.eventually(30, () -> !received.listSessionIDs().isEmpty()
                        && received.getNumUpdateRecordsFor(received.listSessionIDs().get(0)) == 4),
                "the remote UI did not receive the 4 updates: sessions " + received.listSessionIDs());
        router.shutdown();
    }

    @Test
    void anUnreachableRemoteUiIsAReasonNotAnException() throws Exception {
        int closed = UiTestSupport.freePort();
        String why = RemoteStats.probe("http://127.0.0.1:" + closed).orElseThrow();
        assertTrue(why.contains("Connect"), why);
        assertThrows(UserError.class, () -> RemoteStats.normalize("localhost:9000"));
        assertEquals("http://h:9000", RemoteStats.normalize("http://h:9000/"));
    }

    @Test
    void uiOnAFolderWithoutStatsIsOneClearLine(@TempDir Path dir) {
        UiTestSupport.Run r = UiTestSupport.cli(List.of("ui", dir.toString()));
        assertEquals(2, r.exitCode());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("error: no stats.dl4j in " + dir), lines.get(0));

        UiTestSupport.Run missing = UiTestSupport.cli(List.of("ui", dir.resolve("nope").toString()));
        assertEquals(2, missing.exitCode());
        assertTrue(missing.err().contains("run folder not found") && missing.err().contains("nope"), missing.err());

        UiTestSupport.Run nothing = UiTestSupport.cli(List.of("ui"));
        assertEquals(2, nothing.exitCode());
        assertTrue(nothing.err().contains("--remote-listener"), nothing.err());
    }

    @Test
    void aFinishedRunIsServedAgainWithItsStatsAndItsCharts(@TempDir Path dir) throws Exception {
        writeFinishedRun(dir, 5);
        Files.delete(dir.resolve(Charts.ROC)); // an older run: the viewer draws what is missing
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        viewer = RunViewer.start(dir, false, "127.0.0.1", 0, new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
        UiServer ui = viewer.server();
        assertTrue(out.toString(StandardCharsets.UTF_8).contains(ui.overviewUrl()));

        assertEquals(200, get(ui.overviewUrl()).code());
        assertTrue(UiTestSupport.eventually(30, () -> scores(ui) == 5), "overview data does not hold the 5 recorded scores");

        for (String png : Charts.FILES) {
            UiTestSupport.Http img = get(ui.chartsUrl() + "/" + png);
            assertEquals(200, img.code(), png);
            assertEquals("image/png", img.contentType());
            assertNotNull(ImageIO.read(new ByteArrayInputStream(img.body())), png + " is not a PNG");
        }
        String page = get(ui.chartsUrl()).text();
        for (String png : Charts.FILES) {
            assertTrue(page.contains("src=\"/run/" + png), "charts page lacks " + png);
        }
        assertEquals(404, get(ui.chartsUrl() + "/" + RunStats.FILE).code(), "only charts and reports are served");
        int traversal = get(ui.chartsUrl() + "/..%2Fconfig.yaml").code();
        assertTrue(traversal == 400 || traversal == 404, "traversal answered " + traversal);
    }

    private static int scores(UiServer ui) {
        try {
            var data = ConfigLoader.JSON.readTree(get(ui.baseUrl() + "/train/overview/data").body());
            return data.get("scores").size();
        } catch (Exception e) {
            return -1;
        }
    }

    /** A run folder as training leaves it: history, predictions, metrics, charts and stats.dl4j. */
    static void writeFinishedRun(Path dir, int iterations) {
        RunDirectory d = RunDirectory.existing(dir);
        d.startHistory();
        d.appendHistory(new EpochRecord(1, 0.7, 0.6, 0.6, 0.7, 0.6, 0.6, 1, 1));
        d.appendHistory(new EpochRecord(2, 0.5, 0.5, 0.7, 0.8, 0.7, 0.7, 1, 1));
        Predictions p = new Predictions(List.of("NORMAL", "PNEUMONIA"), List.of("a", "b", "c", "d"),
                new int[]{0, 0, 1, 1}, new double[][]{{0.8, 0.2}, {0.4, 0.6}, {0.3, 0.7}, {0.1, 0.9}});
        d.writePredictions(p);
        d.writeMetrics(MetricsCalculator.compute(p, "PNEUMONIA"), Map.of());
        Charts.writeAll(dir);
        FileStatsStorage stats = RunStats.open(dir);
        UiTestSupport.recordStats(stats, iterations);
        assertEquals(StatsListener.TYPE_ID, stats.listTypeIDsForSession(stats.listSessionIDs().get(0)).get(0));
        stats.close();
    }
}
