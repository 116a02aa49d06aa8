package org.xraydl.cli;

import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.report.ConsoleTable;
import org.xraydl.run.ResumeRules;
import org.xraydl.run.RunDirectory;
import org.xraydl.train.Trainer;
import org.xraydl.ui.TrainingUi;
import org.xraydl.ui.UiServer;
import org.deeplearning4j.optimize.api.TrainingListener;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** train: the flags are the spec; anything else comes from --config (YAML). */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a classifier on a folder of class subfolders; writes runs/<name>/.")
public class TrainCommand implements Callable<Integer> {

    @Option(names = "--config", description = "YAML config (default: config/default.yaml if present)")
    Path config;
    @Option(names = "--data", description = "Data folder: NORMAL/ and PNEUMONIA/ subfolders, or a Kaggle chest_xray tree")
    String data;
    @Option(names = "--model", description = "vgg16 | densenet121 | densenet (compact)")
    String model;
    @Option(names = "--weights", description = "imagenet | none | FILE (DL4J .zip or Keras .h5)")
    String weights;
    @Option(names = "--freeze-trunk", arity = "1", description = "true|false (default: freeze unless --weights none)")
    Boolean freezeTrunk;
    @Option(names = "--epochs")
    Integer epochs;
    @Option(names = "--batch", description = "Minibatch size")
    Integer batch;
    @Option(names = "--lr", description = "Adam learning rate")
    Double lr;
    @Option(names = "--workers", description = "1 = plain fit(); >1 = ParallelWrapper with that many workers")
    Integer workers;
    @Option(names = "--seed")
    Long seed;
    @Option(names = "--image-size")
    Integer imageSize;
    @Option(names = "--name", description = "Run name (run folder runs/<name>)")
    String name;
    @Option(names = "--out", description = "Run folder (overrides runs/<name>)")
    String out;
    @Option(names = "--featurize", description = "Frozen trunk, no augmentation: compute trunk outputs once, train the head on them")
    Boolean featurize;
    @Option(names = "--skip-bad", description = "Skip unreadable images (counted in the report) instead of refusing to start")
    Boolean skipBad;
    @Option(names = "--no-augment", description = "Turn off training augmentation")
    boolean noAugment;
    @Option(names = "--class-weights", description = "none | balanced")
    String classWeights;
    @Option(names = "--max-batches", description = "Cap on batches per epoch (quick looks, tests)")
    Integer maxBatches;
    @Option(names = "--max-images-per-class", description = "Use at most N images of each class")
    Integer maxImagesPerClass;
    @Option(names = "--engine", description = "local | spark")
    String engine;
    @Option(names = "--master", description = "Spark master, e.g. local[2], spark://host:7077, yarn")
    String master;
    @Option(names = "--training-master", description = "Spark: shared (gradient sharing) | averaging (parameter averaging)")
    String trainingMaster;
    @Option(names = "--resume", description = "Continue a run from its last.zip (the run's config.yaml is used; --epochs may raise the total)")
    Path resume;
    @Option(names = "--time-budget-minutes", description = "Start no epoch that would end after this many minutes (0 = no budget)")
    Double timeBudgetMinutes;
    @Option(names = "--set", description = "Any config key: --set key=value (YAML value)")
    List<String> set = new ArrayList<>();
    @Option(names = "--no-progress", description = "No progress bar")
    boolean noProgress;
    @Option(names = "--ui", description = "Watch training live in the DL4J UI (prints its URL; stats also saved to runs/<name>/stats.dl4j)")
    boolean ui;
    @Option(names = "--ui-port", description = "UI port (default 9000; 0 = any free port)")
    Integer uiPort;
    @Option(names = "--ui-host", description = "UI address (default 127.0.0.1, this machine only; 0.0.0.0 exposes it to the network)")
    String uiHost;
    @Option(names = "--ui-keep", description = "Keep serving the UI after training ends, until Ctrl-C")
    boolean uiKeep;
    @Option(names = "--ui-remote", description = "Send stats to a DL4J UI elsewhere, e.g. http://host:9000 (started with: ui --remote-listener)")
    String uiRemote;
    @Option(names = "--stats", description = "Save DL4J UI stats to runs/<name>/stats.dl4j without serving them (browse later with: ui runs/<name>)")
    boolean stats;

    @Override
    public Integer call() throws InterruptedException {
        Map<String, Object> o = overrides();
        Path cfg = config;
        if (resume != null) {
            if (config != null) {
                throw new org.xraydl.UserError("--config does not apply with --resume: the run's own " + RunDirectory.CONFIG + " is used");
            }
            cfg = resume.toAbsolutePath().getParent().resolve(RunDirectory.CONFIG);
        } else if (cfg == null && Files.isRegularFile(Path.of("config/default.yaml"))) {
            cfg = Path.of("config/default.yaml");
        }
        RunConfig c = ConfigLoader.load(cfg, o);
        if (resume != null) {
            ResumeRules.refuseChanges(resume.toAbsolutePath().getParent(), c, this::flagOf);
        }
        TrainingUi.Settings uiSettings = uiSettings();
        // Refusals from the configuration alone, before the UI server starts (and so before it prints its URL).
        Trainer.refuseBeforeStart(c, resume);
        Trainer.Result r;
        // The UI starts before training, so a taken port stops the command before anything is written.
        try (TrainingUi trainingUi = uiSettings.active() ? TrainingUi.start(uiSettings, System.out, System.err) : null) {
            List<TrainingListener> listeners = trainingUi == null ? List.of() : trainingUi.listeners();
            r = Trainer.train(c, new Trainer.Options(!noProgress, listeners, List.of(), resume));
            if (uiKeep && trainingUi != null) {
                printResult(r);
                trainingUi.keepServing();
                return 0;
            }
        }
        printResult(r);
        return 0;
    }

    TrainingUi.Settings uiSettings() {
        if (!ui) {
            String given = uiPort != null ? "--ui-port" : uiHost != null ? "--ui-host" : uiKeep ? "--ui-keep" : null;
            if (given != null) {
                throw new org.xraydl.UserError(given + " only applies with --ui: add --ui");
            }
        }
        return new TrainingUi.Settings(ui, uiHost == null ? UiServer.DEFAULT_HOST : uiHost,
                uiPort == null ? UiServer.DEFAULT_PORT : uiPort, uiRemote, stats);
    }

    private static void printResult(Trainer.Result r) {
        System.out.println();
        System.out.print(ConsoleTable.metrics("Validation metrics of the best model (epoch " + r.bestEpoch() + "), run " + r.runDirectory().path(), r.validation()));
    }

    /** Config key → the flag that set it on this command line, for messages ({@link #overrides()} fills it). */
    private final Map<String, String> flags = new LinkedHashMap<>();

    private String flagOf(String key) {
        return flags.getOrDefault(key, key);
    }

    private void put(Map<String, Object> o, String key, String flag, Object value) {
        o.put(key, value);
        if (value != null) {
            flags.put(key, flag);
        }
    }

    Map<String, Object> overrides() {
        Map<String, Object> o = new LinkedHashMap<>();
        put(o, "data", "--data", data);
        put(o, "model", "--model", model);
        put(o, "weights", "--weights", weights);
        put(o, "freezeTrunk", "--freeze-trunk", freezeTrunk);
        put(o, "epochs", "--epochs", epochs);
        put(o, "batchSize", "--batch", batch);
        put(o, "learningRate", "--lr", lr);
        put(o, "workers", "--workers", workers);
        put(o, "seed", "--seed", seed);
        put(o, "imageSize", "--image-size", imageSize);
        put(o, "name", "--name", name);
        put(o, "out", "--out", out);
        put(o, "featurize", "--featurize", featurize);
        put(o, "skipBad", "--skip-bad", skipBad);
        put(o, "augment", "--no-augment", noAugment ? Boolean.FALSE : null);
        put(o, "classWeights", "--class-weights", classWeights);
        put(o, "maxBatchesPerEpoch", "--max-batches", maxBatches);
        put(o, "maxImagesPerClass", "--max-images-per-class", maxImagesPerClass);
        put(o, "engine", "--engine", engine);
        put(o, "sparkMaster", "--master", master);
        put(o, "trainingMaster", "--training-master", trainingMaster);
        put(o, "timeBudgetMinutes", "--time-budget-minutes", timeBudgetMinutes);
        for (String kv : set) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new org.xraydl.UserError("--set expects key=value, got '" + kv + "'");
            }
            try {
                put(o, kv.substring(0, eq), "--set " + kv.substring(0, eq), ConfigLoader.YAML.readValue(kv.substring(eq + 1), Object.class));
            } catch (java.io.IOException e) {
                throw new org.xraydl.UserError("--set " + kv + ": value is not valid YAML");
            }
        }
        return o;
    }
}
