package org.xraydl.ui;

import org.deeplearning4j.core.storage.StatsStorageRouter;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.xraydl.cli.Main;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/** Helpers for the UI tests: HTTP, ports, listening sockets, small stats, the CLI with captured output. */
final class UiTestSupport {
    private UiTestSupport() {
    }

    record Http(int code, String contentType, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    static Http get(String url) throws IOException {
        HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
        c.setConnectTimeout(5000);
        c.setReadTimeout(30000);
        try {
            int code = c.getResponseCode();
            byte[] body = (code < 400 ? c.getInputStream() : c.getErrorStream()).readAllBytes();
            return new Http(code, c.getContentType(), body);
        } finally {
            c.disconnect();
        }
    }

    /** A port that was free a moment ago (on loopback). */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return s.getLocalPort();
        }
    }

    static boolean portFree(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Local addresses of the sockets listening on {@code port}, read from /proc/net/tcp and tcp6 (Linux). */
    static List<InetAddress> listeningAddresses(int port) throws IOException {
        List<InetAddress> out = new ArrayList<>();
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            Path p = Path.of(table);
            if (!Files.isReadable(p)) {
                continue;
            }
            List<String> lines = Files.readAllLines(p);
            for (String line : lines.subList(1, lines.size())) {
                String[] f = line.trim().split("\\s+");
                String[] local = f[1].split(":");
                if (!"0A".equals(f[3]) || Integer.parseInt(local[1], 16) != port) {
                    continue; // not LISTEN on that port
                }
                out.add(InetAddress.getByAddress(procAddress(local[0])));
            }
        }
        return out;
    }

    /** /proc/net/tcp* addresses are 32-bit words in host (little-endian) byte order. */
    static byte[] procAddress(String hex) {
        byte[] b = new byte[hex.length() / 2];
        for (int word = 0; word < b.length / 4; word++) {
            for (int i = 0; i < 4; i++) {
                int at = (word * 4 + i) * 2;
                b[word * 4 + 3 - i] = (byte) Integer.parseInt(hex.substring(at, at + 2), 16);
            }
        }
        return b;
    }

    /** Live non-daemon threads of Vert.x: these would keep a JVM from exiting. */
    static List<String> nonDaemonVertxThreads() {
        List<String> out = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && !t.isDaemon() && t.getName().startsWith("vert.x")) {
                out.add(t.getName());
            }
        }
        return out;
    }

    /** Polls {@code condition} every 200 ms, up to {@code maxSeconds} (a bound for a broken run, not a speed check). */
    static boolean eventually(int maxSeconds, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + maxSeconds * 1_000_000_000L;
        while (System.nanoTime() < end) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(200);
        }
        return condition.getAsBoolean();
    }

    /** Fits a tiny network {@code iterations} times with a StatsListener posting every iteration. */
    static void recordStats(StatsStorageRouter router, int iterations) {
        var conf = new NeuralNetConfiguration.Builder().seed(7).list()
                .layer(new DenseLayer.Builder().nIn(4).nOut(3).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).nIn(3).nOut(2).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        net.setListeners(new StatsListener(router, 1));
        INDArray x = Nd4j.rand(8, 4);
        INDArray y = Nd4j.zeros(8, 2);
        for (int i = 0; i < 8; i++) {
            y.putScalar(i, i % 2, 1.0);
        }
        for (int i = 0; i < iterations; i++) {
            net.fit(new DataSet(x, y));
        }
    }

    /** Training flags for a run of a few seconds on the bundled sample. */
    static List<String> quickTrain(Path out) {
        return new ArrayList<>(List.of("train", "--data", dataDir().toString(), "--out", out.toString(),
                "--epochs", "1", "--max-batches", "3", "--batch", "8", "--image-size", "64",
                "--max-images-per-class", "30", "--no-progress"));
    }

    static Path dataDir() {
        return Path.of(System.getProperty("project.basedir", ".")).resolve("data/chest-xray-sample");
    }

    record Run(int exitCode, String out, String err) {
    }

    /** Main.run with System.out/err captured (and still shown). */
    static Run cli(List<String> args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(new Tee(oldOut, out), true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(new Tee(oldErr, err), true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args.toArray(new String[0]));
            System.out.flush();
            System.err.flush();
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private static final class Tee extends OutputStream {
        private final OutputStream a;
        private final OutputStream b;

        Tee(OutputStream a, OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public synchronized void write(int x) throws IOException {
            a.write(x);
            b.write(x);
        }

        @Override
        public synchronized void write(byte[] buf, int off, int len) throws IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }

        @Override
        public void flush() throws IOException {
            a.flush();
            b.flush();
        }
    }
}
