package org.xraydl.model.io;

import org.xraydl.kernels.FastLayers;
import org.xraydl.kernels.NativeHelpers;

import org.xraydl.AtomicFiles;

import com.fasterxml.jackson.databind.JsonNode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.Preprocessing;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * A trained network with what it needs to be used and trusted: labels and preprocessing, the
 * run config, and provenance. Stored as a DL4J model zip with three extra entries, written to a
 * temp file and renamed, so a crash never leaves a half-written model.
 *
 * @param weightAverage the exponential moving average of the trainable weights ({@link TrainableParameters}) of a
 *                      training with {@code emaDecay} (last.zip, for --resume), as {@link ModelZip#WEIGHT_AVERAGE}; null
 *                      for every other zip
 */
public record ModelBundle(ComputationGraph network, Preprocessing preprocessing, RunConfig config,
                          Map<String, Object> provenance, DecisionRule decision, INDArray weightAverage) {

    /** A bundle without a decision rule (training checkpoints: the rule is added to best.zip at the end). */
    public ModelBundle(ComputationGraph network, Preprocessing preprocessing, RunConfig config, Map<String, Object> provenance) {
        this(network, preprocessing, config, provenance, null, null);
    }

    public ModelBundle(ComputationGraph network, Preprocessing preprocessing, RunConfig config, Map<String, Object> provenance,
                       DecisionRule decision) {
        this(network, preprocessing, config, provenance, decision, null);
    }
    /**
     * The stored rule for the probabilities of the plain view ({@code tta} false) or of the {@code --tta}
     * average: null when the zip has none for them (an older zip has no TTA rule, a still older one none).
     */
    public DecisionRule decisionFor(boolean tta) {
        return decision == null ? null : tta ? decision.forTta() : decision.plain();
    }

    /**
     * The temperature applied to those probabilities: the rule's, or 1 (none) without one. A temperature
     * fitted on the plain probabilities is not applied to TTA averages, which are distributed differently.
     */
    public double temperatureFor(boolean tta) {
        DecisionRule rule = decisionFor(tta);
        return rule != null ? rule.temperature() : 1.0;
    }

    // Flat names: DL4J's ModelSerializer refuses any zip that contains a directory entry.
    static final String PREPROCESSING = "xraydl_preprocessing.json";
    static final String CONFIG = "xraydl_config.json";
    static final String PROVENANCE = "xraydl_provenance.json";
    /**
     * Optional: the operating threshold and temperature chosen on validation, plain and with TTA (zips before it
     * have none, zips before TTA rules only the plain one).
     */
    static final String DECISION = "xraydl_decision.json";

    public void save(Path target, boolean withUpdater) {
        try {
            AtomicFiles.write(target, tmp -> {
                ModelSerializer.writeModel(network, tmp.toFile(), withUpdater);
                try (FileSystem zip = FileSystems.newFileSystem(URI.create("jar:" + tmp.toUri()), Map.of())) {
                    Files.writeString(zip.getPath(PREPROCESSING), ConfigLoader.JSON.writeValueAsString(preprocessing));
                    Files.writeString(zip.getPath(CONFIG), ConfigLoader.JSON.writeValueAsString(config));
                    Files.writeString(zip.getPath(PROVENANCE), ConfigLoader.JSON.writeValueAsString(provenance));
                    if (decision != null) {
                        Files.writeString(zip.getPath(DECISION), ConfigLoader.JSON.writeValueAsString(decision));
                    }
                    if (weightAverage != null) {
                        TrainableParameters trainable = TrainableParameters.of(network);
                        if (weightAverage.length() != trainable.count()) {
                            throw new IllegalStateException("a weight average of " + weightAverage.length() + " numbers for a network with "
                                    + trainable);
                        }
                        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(
                                Files.newOutputStream(zip.getPath(ModelZip.WEIGHT_AVERAGE)), 1 << 16))) {
                            Nd4j.write(weightAverage, out);
                        }
                    }
                }
            });
        } catch (IOException e) {
            throw new UserError("cannot write model " + target + ": " + e.getMessage());
        }
    }

    public static ModelBundle load(Path file) {
        if (file == null || !Files.isRegularFile(file)) {
            throw new UserError("model file not found: " + file + " (pass --model runs/<name>/best.zip from a training run)");
        }
        // Entries checked first (ModelZip.open): nothing in the file is deserialised as Java objects.
        try (ZipFile zip = ModelZip.open(file, "model file")) {
            Preprocessing pre;
            RunConfig config;
            Map<String, Object> provenance;
            DecisionRule decision;
            try {
                ZipEntry p = zip.getEntry(PREPROCESSING);
                if (p == null) {
                    throw new UserError("model file " + file + " was not written by this pipeline (no " + PREPROCESSING
                            + "): pass a best.zip/last.zip from a training run");
                }
                pre = ConfigLoader.JSON.readValue(read(zip, p), Preprocessing.class);
                config = ConfigLoader.fromJson(read(zip, zip.getEntry(CONFIG)));
                JsonNode prov = ConfigLoader.JSON.readTree(read(zip, zip.getEntry(PROVENANCE)));
                @SuppressWarnings("unchecked")
                Map<String, Object> m = ConfigLoader.JSON.convertValue(prov, Map.class);
                provenance = m;
                ZipEntry d = zip.getEntry(DECISION);
                decision = d == null ? null : ConfigLoader.JSON.readValue(read(zip, d), DecisionRule.class);
            } catch (IOException | RuntimeException e) {
                if (e instanceof UserError u) {
                    throw u;
                }
                throw new UserError("model file " + file + " is corrupt or not a model zip (" + e.getClass().getSimpleName()
                        + "): retrain, or pass another --model");
            }
            try {
                NativeHelpers.ensureConfigured();
                ComputationGraph net = ModelZip.restoreGraph(zip, true);
                FastLayers.engage(net);
                ZipEntry a = zip.getEntry(ModelZip.WEIGHT_AVERAGE);
                INDArray average = a == null ? null : readWeightAverage(zip, a, net);
                return new ModelBundle(net, pre, config, provenance, decision, average);
            } catch (UserError e) {
                throw e;
            } catch (Exception e) {
                throw new UserError("model file " + file + " is corrupt (" + e.getClass().getSimpleName() + "): retrain, or pass another --model", e);
            }
        } catch (IOException e) {
            throw new UserError("model file " + file + " cannot be closed (" + e.getMessage() + ")");
        }
    }

    /**
     * The weight average entry as the trainable part of {@code net}'s parameters ({@link TrainableParameters}), the form
     * it is saved in. Checked as the weights are ({@link ArrayEntry}): its header must declare that count, or the whole
     * parameter count: a last.zip written before frozen layers were left out of the average holds all of them, and
     * its trainable part is taken (the frozen part was the unchanged frozen weights), so such a run still resumes.
     */
    private static INDArray readWeightAverage(ZipFile zip, ZipEntry a, ComputationGraph net) throws IOException {
        TrainableParameters trainable = TrainableParameters.of(net);
        long part = trainable.count();
        long all = trainable.total();
        INDArray read = ArrayEntry.read(zip, a, new long[]{part, all}, part == all ? String.valueOf(all)
                : part + " (its trainable parameters) or " + all + " (all its parameters, as older versions saved it)");
        if (read.length() == part) {
            return read;
        }
        INDArray trainablePart = trainable.gather(read);
        if (read.closeable()) {
            read.close(); // the full-length copy of a frozen trunk's weights, not kept
        }
        return trainablePart;
    }

    /**
     * Adds (or replaces) the decision rule in an existing model zip, through a copy and an atomic
     * rename; the network entries are copied byte for byte.
     */
    public static void storeDecision(Path zipFile, DecisionRule decision) {
        try {
            AtomicFiles.write(zipFile, tmp -> {
                Files.copy(zipFile, tmp, StandardCopyOption.REPLACE_EXISTING);
                try (FileSystem zip = FileSystems.newFileSystem(URI.create("jar:" + tmp.toUri()), Map.of())) {
                    Files.writeString(zip.getPath(DECISION), ConfigLoader.JSON.writeValueAsString(decision));
                }
            });
        } catch (IOException e) {
            throw new UserError("cannot write the decision rule into " + zipFile + ": " + e.getMessage());
        }
    }

    private static String read(ZipFile zip, ZipEntry e) throws IOException {
        if (e == null) {
            throw new IOException("missing entry");
        }
        try (InputStream in = zip.getInputStream(e)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
