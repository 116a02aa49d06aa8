package org.xraydl.spark;


import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.TrainingMaster;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.deeplearning4j.spark.parameterserver.training.SharedTrainingMaster;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.parameterserver.distributed.conf.VoidConfiguration;
import org.nd4j.parameterserver.distributed.v2.ModelParameterServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;
import org.xraydl.data.LabeledImage;
import org.xraydl.train.EpochData;
import org.xraydl.train.LossMeter;
import org.xraydl.train.TrainingEngine;

import java.io.IOException;
import java.io.Serializable;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Data-parallel training on Apache Spark with DL4J's training masters: {@code shared} (gradient
 * sharing, {@link SharedTrainingMaster}, threshold-encoded updates over Aeron UDP) or
 * {@code averaging} ({@link ParameterAveragingTrainingMaster}, synchronous parameter averaging after
 * every minibatch of every worker). Loaded by {@code Trainer.engine} by reflection, so it exists only
 * in the {@code -Pspark} build.
 *
 * <p>Per epoch the driver shuffles the training files (seeded like local training), applies
 * {@code maxBatchesPerEpoch}, and cuts them into minibatches of {@code batchSize} file paths; only
 * these paths are parallelised. Executors decode, augment and normalise them with the project's own
 * data classes ({@link DecodeBatch}) and the resulting {@code RDD<DataSet>} goes to
 * {@link SparkComputationGraph#fit(JavaRDD)}. The network given to {@link #start} is the one Spark
 * trains on the driver: both masters write the new parameters and updater state into it, so the
 * Trainer's validation, history and checkpoints are those of local training.
 *
 * <p>{@code batchSize} is per worker (the global batch is {@code batchSize x workers}). Training
 * loss per epoch is what the master reports: the mean over workers of their last minibatch loss.
 *
 * <p>Knobs that are Spark-deployment rather than model settings are read as Spark properties
 * ({@code --conf} of spark-submit, or {@code -D} system properties):
 * {@code spark.xraydl.exportDir} (export decoded batches there, e.g. on HDFS, instead of training
 * from the RDD), {@code spark.xraydl.averagingFrequency} (default 1),
 * {@code spark.xraydl.workersPerNode} (gradient sharing; default DL4J's cores/4),
 * {@code spark.xraydl.voidPort} (UDP port of gradient sharing on the driver, default 40123 on
 * clusters, a free port locally) and {@code spark.xraydl.voidExecutorPort} (executors use it plus
 * their executor id, default voidPort + 1), {@code spark.xraydl.voidNetworkMask} / {@code spark.xraydl.voidController}
 * (how the driver and executors find each other's IP), {@code spark.xraydl.connectTimeoutSeconds}
 * (default 10) and {@code spark.xraydl.executorWaitSeconds} (default 120).
 */
public class SparkEngine implements TrainingEngine {
    private static final Logger log = LoggerFactory.getLogger(SparkEngine.class);
    static final String AERON_UNBLOCK = "aeron.publication.unblock.timeout";
    /** Aeron refuses to start unless this exceeds the 30 s client liveness timeout DL4J sets. */
    static final String AERON_UNBLOCK_NANOS = "60000000000";

    private final RunConfig config;
    private final SparkMaster master;
    private final String trainingMasterName;
    private JavaSparkContext sc;
    private SparkComputationGraph sparkNet;
    private LossMeter lossMeter;

    /** Validates the settings and checks the master; resources are only taken in {@link #start}. */
    public SparkEngine(RunConfig config) {
        this.config = config;
        try {
            Class.forName("org.apache.spark.SparkConf", false, SparkEngine.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new UserError("--engine spark needs Spark on the classpath: run Maven with -Pspark, or submit the shaded jar with spark-submit");
        }
        String tm = config.trainingMaster() == null ? "" : config.trainingMaster().toLowerCase(Locale.ROOT);
        if (!tm.equals("shared") && !tm.equals("averaging")) {
            throw new UserError("--training-master must be shared (gradient sharing) or averaging (parameter averaging), got '"
                    + config.trainingMaster() + "'");
        }
        this.trainingMasterName = tm;
        this.master = new SparkMaster(effectiveMaster(config));
        master.check(intSetting("spark.xraydl.connectTimeoutSeconds", SparkMaster.DEFAULT_CONNECT_TIMEOUT_SECONDS));
    }

    /** spark-submit's --master (the system property spark.master) wins over the run config's sparkMaster. */
    static String effectiveMaster(RunConfig c) {
        String submitted = System.getProperty("spark.master");
        if (submitted != null && !submitted.isBlank()) {
            if (!submitted.equals(c.sparkMaster())) {
                log.info("using spark-submit's master {} (config sparkMaster {} ignored)", submitted, c.sparkMaster());
            }
            return submitted.trim();
        }
        return c.sparkMaster() == null ? "" : c.sparkMaster().trim();
    }

    @Override
    public String name() {
        return "spark(" + trainingMasterName + ", " + master.url() + ")";
    }

    @Override
    public void start(ComputationGraph net, List<TrainingListener> listeners) {
        if (System.getProperty(AERON_UNBLOCK) == null) {
            System.setProperty(AERON_UNBLOCK, AERON_UNBLOCK_NANOS);
        }
        sc = createContext();
        TrainingMaster<?, ?> tm = trainingMasterName.equals("shared") ? sharedMaster() : averagingMaster();
        sparkNet = new SparkComputationGraph(sc, net, tm);
        List<TrainingListener> forwarded = new ArrayList<>();
        for (TrainingListener l : listeners) {
            if (l instanceof LossMeter m) {
                lossMeter = m; // fed on the driver after each epoch: worker-side copies never report back
            } else if (l instanceof Serializable) {
                forwarded.add(l);
            } else {
                log.warn("listener {} is not Serializable and cannot run on Spark executors: skipped", l.getClass().getName());
            }
        }
        if (!forwarded.isEmpty()) {
            sparkNet.setListeners(forwarded);
        }
        log.info("Spark {} master, {} with default parallelism {}", trainingMasterName, master.url(), sc.defaultParallelism());
    }

    private JavaSparkContext createContext() {
        SparkConf conf = new SparkConf(); // picks up spark.* system properties, i.e. spark-submit's --conf
        if (!conf.contains("spark.master")) {
            conf.setMaster(master.url());
        }
        conf.setIfMissing("spark.app.name", "xraydl train " + config.name());
        conf.setIfMissing("spark.serializer", "org.apache.spark.serializer.KryoSerializer");
        conf.setIfMissing("spark.kryo.registrator", "org.nd4j.kryo.Nd4jRegistrator");
        conf.setIfMissing("spark.kryoserializer.buffer.max", "1024m");
        if (master.isLocal()) {
            conf.setIfMissing("spark.driver.host", "127.0.0.1");
            conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
            conf.setIfMissing("spark.ui.enabled", "false");
        } else {
            String opts = conf.get("spark.executor.extraJavaOptions", "");
            if (!opts.contains(AERON_UNBLOCK)) {
                conf.set("spark.executor.extraJavaOptions", (opts + " -D" + AERON_UNBLOCK + "=" + AERON_UNBLOCK_NANOS).trim());
            }
        }
        if (!master.isLocal() && !conf.contains("spark.jars")) {
            String jar = applicationJar();
            log.info("shipping {} to the executors (spark.jars)", jar);
            conf.set("spark.jars", jar);
        }
        if (master.isYarn()) {
            // Hadoop's client retries an absent ResourceManager for 15 minutes by default.
            conf.setIfMissing("spark.hadoop.yarn.resourcemanager.connect.max-wait.ms", "60000");
            conf.setIfMissing("spark.hadoop.yarn.resourcemanager.connect.retry-interval.ms", "5000");
        }
        JavaSparkContext context;
        try {
            context = new JavaSparkContext(conf);
        } catch (RuntimeException e) {
            throw new UserError("cannot start Spark with master " + master.url() + ": " + firstLine(e), e);
        }
        if (!master.isLocal()) {
            try {
                waitForExecutors(context, intSetting("spark.xraydl.executorWaitSeconds", 120));
            } catch (RuntimeException e) {
                context.stop();
                throw e;
            }
        }
        return context;
    }

    /**
     * Executors need this project's classes. spark-submit ships its jar itself (spark.jars is then set);
     * started otherwise, use the jar this code runs from, or the shaded jar next to target/classes.
     */
    static String applicationJar() {
        try {
            Path code = Path.of(SparkEngine.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (Files.isRegularFile(code)) {
                return code.toUri().toString();
            }
            Path target = code.getParent();
            if (target != null && Files.isDirectory(target)) {
                try (var s = Files.list(target)) {
                    var shaded = s.filter(p -> p.getFileName().toString().endsWith("-spark.jar")).findFirst();
                    if (shaded.isPresent()) {
                        return shaded.get().toUri().toString();
                    }
                }
            }
        } catch (URISyntaxException | IOException | RuntimeException e) {
            log.debug("cannot locate the application jar", e);
        }
        throw new UserError("Spark executors cannot load this project's classes from a classes folder: build the shaded jar "
                + "(mvn -Pspark -Dspark.scope=provided -DskipTests package) and run it with spark-submit (see README)");
    }

    /** A standalone master that accepts the application but has no free worker would leave the first job waiting forever. */
    private void waitForExecutors(JavaSparkContext context, int seconds) {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (true) {
            if (context.sc().isStopped()) {
                throw new UserError("Spark master " + master.url() + " ended the application before any executor started "
                        + "(the reason is in the Spark log above: a master of another Spark version than " + context.version()
                        + ", or executors that fail on the workers)");
            }
            // getExecutorInfos includes the driver.
            if (context.sc().statusTracker().getExecutorInfos().length > 1) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new UserError("no Spark executor registered with " + master.url() + " within " + seconds
                        + " s: start workers (sbin/start-worker.sh " + master.url() + "), or lower spark.executor.memory/cores to what they offer");
            }
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new UserError("interrupted while waiting for Spark executors");
            }
        }
    }

    private TrainingMaster<?, ?> averagingMaster() {
        int batch = config.batchSize();
        String exportDir = exportDirectory();
        return new ParameterAveragingTrainingMaster.Builder(batch)
                .batchSizePerWorker(batch)
                .averagingFrequency(intSetting("spark.xraydl.averagingFrequency", 1))
                .saveUpdater(true) // keep Adam's moments across averaging rounds, as local training does
                .workerPrefetchNumBatches(0)
                .rngSeed(config.seed())
                .rddTrainingApproach(exportDir != null ? RDDTrainingApproach.Export : RDDTrainingApproach.Direct)
                .exportDirectory(exportDir)
                .storageLevel(null) // fitEpoch persists the decoded batches itself (serialised, spilling to disk)
                .build();
    }

    private TrainingMaster<?, ?> sharedMaster() {
        int batch = config.batchSize();
        int port = voidPort();
        VoidConfiguration.VoidConfigurationBuilder v = VoidConfiguration.builder()
                .portSupplier(new SplitPortSupplier(port, intSetting("spark.xraydl.voidExecutorPort", port + 1)))
                .controllerAddress(controllerAddress());
        String mask = setting("spark.xraydl.voidNetworkMask", null);
        if (mask != null) {
            v.networkMask(mask);
        } else if (!master.isLocal() && System.getenv("DL4J_VOID_IP") == null) {
            log.warn("gradient sharing on a cluster: executors find their own IP through spark.xraydl.voidNetworkMask "
                    + "(e.g. --conf spark.xraydl.voidNetworkMask=10.0.0.0/16) or DL4J_VOID_IP in each worker's spark-env.sh; "
                    + "without either they announce 127.0.0.1");
        }
        String exportDir = exportDirectory();
        return new SharedTrainingMaster.Builder(v.build(), batch)
                .batchSizePerWorker(batch)
                .workersPerNode(intSetting("spark.xraydl.workersPerNode", -1))
                .rngSeed(config.seed())
                .rddTrainingApproach(exportDir != null ? RDDTrainingApproach.Export : RDDTrainingApproach.Direct)
                .exportDirectory(exportDir)
                .storageLevel(null)
                .build();
    }

    private String exportDirectory() {
        String dir = setting("spark.xraydl.exportDir", null);
        return dir == null || dir.isBlank() ? null : dir;
    }

    private int voidPort() {
        int p = intSetting("spark.xraydl.voidPort", -1);
        if (p > 0) {
            return p;
        }
        if (!master.isLocal()) {
            return 40123;
        }
        // Locally any free UDP port: runs in parallel on one machine must not collide.
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (SocketException e) {
            return 40123;
        }
    }

    private String controllerAddress() {
        String explicit = setting("spark.xraydl.voidController", null);
        if (explicit != null) {
            return explicit;
        }
        if (master.isLocal()) {
            return "127.0.0.1";
        }
        String driverHost = sc.getConf().get("spark.driver.host", null);
        try {
            return driverHost != null ? InetAddress.getByName(driverHost).getHostAddress() : InetAddress.getLocalHost().getHostAddress();
        } catch (UnknownHostException e) {
            throw new UserError("cannot resolve the Spark driver host " + driverHost
                    + " for gradient sharing: set --conf spark.xraydl.voidController=DRIVER_IP");
        }
    }

    @Override
    public long fitEpoch(ComputationGraph net, EpochData data) {
        if (sparkNet == null) {
            throw new IllegalStateException("start() was not called");
        }
        if (sparkNet.getNetwork() != net) {
            throw new IllegalStateException("fitEpoch got another network than start()");
        }
        List<PathBatch> batches = batches(data.images(), config, data.epoch());
        long images = batches.stream().mapToLong(PathBatch::size).sum();
        int slices = Math.max(1, Math.min(batches.size(), sc.defaultParallelism()));
        JavaRDD<DataSet> decoded = sc.parallelize(batches, slices)
                .map(new DecodeBatch(config, data.preprocessing(), config.seed() + data.epoch()));
        boolean export = exportDirectory() != null;
        if (!export) {
            decoded = decoded.persist(StorageLevel.MEMORY_AND_DISK_SER());
        }
        try {
            sparkNet.fit(decoded);
        } catch (RuntimeException e) {
            UserError u = userError(e);
            if (u != null) {
                throw new UserError(u.getMessage(), e);
            }
            throw e;
        } finally {
            if (!export) {
                decoded.unpersist(false);
            }
        }
        // Both masters have written parameters and updater state into net (the driver's copy).
        double score = trainingMasterName.equals("averaging") ? sparkNet.getScore() : net.score();
        if (lossMeter != null) {
            net.setScore(score);
            lossMeter.iterationDone(net, net.getIterationCount(), net.getEpochCount());
        }
        return images;
    }

    /** The epoch's minibatches of file paths: seeded shuffle, then the maxBatchesPerEpoch cap, as local training. */
    static List<PathBatch> batches(List<LabeledImage> images, RunConfig c, int epoch) {
        List<LabeledImage> order = new ArrayList<>(images);
        Collections.shuffle(order, new Random(c.seed() + epoch));
        int batch = c.batchSize();
        int n = order.size();
        if (c.maxBatchesPerEpoch() > 0) {
            n = (int) Math.min(n, (long) c.maxBatchesPerEpoch() * batch);
        }
        List<PathBatch> out = new ArrayList<>();
        for (int start = 0, index = 0; start < n; start += batch, index++) {
            int end = Math.min(n, start + batch);
            String[] uris = new String[end - start];
            String[] labels = new String[end - start];
            for (int i = start; i < end; i++) {
                uris[i - start] = order.get(i).file().toUri().toString();
                labels[i - start] = order.get(i).label();
            }
            out.add(new PathBatch(index, uris, labels));
        }
        return out;
    }

    private static UserError userError(Throwable t) {
        for (Throwable x = t; x != null; x = x.getCause() == x ? null : x.getCause()) {
            if (x instanceof UserError u) {
                return u;
            }
        }
        return null;
    }

    @Override
    public void close() {
        try {
            if (trainingMasterName.equals("shared") && sparkNet != null && ModelParameterServer.getInstance().isInitialized()) {
                ModelParameterServer.getInstance().shutdown(); // Aeron media driver and its UDP port
            }
        } catch (RuntimeException e) {
            log.warn("gradient-sharing parameter server did not shut down cleanly: {}", e.toString());
        } finally {
            if (sc != null) {
                if (sparkNet != null && exportDirectory() != null && !sparkNet.getTrainingMaster().deleteTempFiles(sc)) {
                    log.warn("could not delete the exported batches under {}", exportDirectory());
                }
                sc.stop();
                sc = null;
            }
        }
    }

    /** A spark.xraydl.* setting: from the SparkConf once there is one (spark-submit --conf), else a system property. */
    private String setting(String key, String dflt) {
        String v = sc != null ? sc.getConf().get(key, null) : System.getProperty(key);
        return v == null || v.isBlank() ? dflt : v.trim();
    }

    private int intSetting(String key, int dflt) {
        String v = setting(key, null);
        if (v == null) {
            return dflt;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new UserError(key + " must be a whole number, got '" + v + "'");
        }
    }

    private static String firstLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
