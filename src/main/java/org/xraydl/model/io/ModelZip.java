package org.xraydl.model.io;

import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.UserError;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Reads DL4J model zips from untrusted sources without any Java deserialization.
 *
 * <p>{@code ModelSerializer.restore…} reads a {@code preprocessor.bin} entry with
 * {@code ObjectInputStream.readObject()} before any type check, so a zip from someone else could
 * instantiate any class on the classpath. This class never calls it: it refuses every entry it does
 * not read (an allow-list: DL4J's configuration JSON, its ND4J binary arrays and the project's own
 * {@code xraydl_*.json} and {@value #WEIGHT_AVERAGE}), then rebuilds the graph the way {@code ModelSerializer} does (configuration
 * JSON, {@code Nd4j.read} of the arrays) with a strict {@link DeserializationGuard} as a second layer.
 * The configuration's type ids are checked first ({@link ConfigurationTypes}), the array headers too
 * ({@link ArrayEntry}).
 */
public final class ModelZip {
    static final String CONFIGURATION = ModelSerializer.CONFIGURATION_JSON;
    static final String COEFFICIENTS = ModelSerializer.COEFFICIENTS_BIN;
    static final String UPDATER_STATE = ModelSerializer.UPDATER_BIN;
    static final String NO_PARAMS = ModelSerializer.NO_PARAMS_MARKER;
    /** DL4J's entries that hold no Java serialization: JSON and ND4J's own binary array format. */
    static final Set<String> DL4J_ENTRIES = Set.of(CONFIGURATION, COEFFICIENTS, UPDATER_STATE, NO_PARAMS);
    /** The project's own entries ({@link ModelBundle}): JSON read into plain records and trees. */
    static final String PROJECT_PREFIX = "xraydl_";
    static final String PROJECT_SUFFIX = ".json";
    /**
     * The project's one array entry: the weight average of a training with {@code emaDecay} (last.zip only), of the
     * network's trainable parameters ({@link TrainableParameters}; older zips: of all of them),
     * in ND4J's binary array format, read through {@link ArrayEntry} as the weights are.
     */
    public static final String WEIGHT_AVERAGE = "xraydl_weight_average.bin";
    /** The configuration is a few hundred KB even for DenseNet-121; more is not a model. */
    static final long MAX_CONFIGURATION_BYTES = 64L << 20;

    private ModelZip() {
    }

    /** True for entries this program reads without deserialising Java objects. */
    static boolean isAllowed(String name) {
        if (DL4J_ENTRIES.contains(name) || WEIGHT_AVERAGE.equals(name)) {
            return true;
        }
        return name.startsWith(PROJECT_PREFIX) && name.endsWith(PROJECT_SUFFIX) && name.indexOf('/') < 0 && name.indexOf('\\') < 0;
    }

    /**
     * Opens {@code file} as a zip and checks it before anything is read: every entry must be one this
     * program reads ({@link #isAllowed}), and the network's configuration and weights must be present.
     *
     * @param what how the file is named in errors, e.g. "model file" or "--weights"
     */
    public static ZipFile open(Path file, String what) {
        if (!Files.isReadable(file)) {
            throw new UserError(what + " " + file + " cannot be read (permission denied?): check its permissions");
        }
        ZipFile zip;
        try {
            zip = new ZipFile(file.toFile());
        } catch (IOException e) {
            throw new UserError(what + " " + file + " is corrupt or not a zip (" + e.getClass().getSimpleName()
                    + "): pass a DL4J model .zip saved by this pipeline or by DL4J, or retrain");
        }
        try {
            check(zip, file, what);
            return zip;
        } catch (RuntimeException e) {
            closeQuietly(zip);
            throw e;
        }
    }

    private static void check(ZipFile zip, Path file, String what) {
        Enumeration<? extends ZipEntry> entries = zip.entries();
        while (entries.hasMoreElements()) {
            ZipEntry e = entries.nextElement();
            if (e.isDirectory() || !isAllowed(e.getName())) {
                String why = e.getName().equals(ModelSerializer.PREPROCESSOR_BIN) || e.getName().equals(ModelSerializer.NORMALIZER_BIN)
                        ? " (DL4J would deserialise it as Java objects, which can run code from the file)"
                        : " (not part of a model this program reads)";
                throw new UserError(what + " " + file + " holds an entry '" + oneLine(e.getName()) + "'" + why
                        + ": refused; use a model zip saved by this pipeline, or by DL4J's ModelSerializer without a normalizer");
            }
        }
        if (zip.getEntry(CONFIGURATION) == null) {
            throw new UserError(what + " " + file + " has no " + CONFIGURATION
                    + " (the network definition): it is incomplete or not a DL4J model; retrain, or pass another file");
        }
        if (zip.getEntry(COEFFICIENTS) == null && zip.getEntry(NO_PARAMS) == null) {
            throw new UserError(what + " " + file + " has no " + COEFFICIENTS
                    + " (the network weights): it is incomplete; retrain, or pass another file");
        }
    }

    /**
     * Rebuilds the ComputationGraph in a zip checked by {@link #open}, as {@code ModelSerializer} would
     * (same entries, same data type and updater handling), but without reading any other entry.
     *
     * @throws UserError            (one line, naming the file) if an array entry's header disagrees with the
     *                               configuration or the entry is shorter than its header declares
     * @throws IOException           if an entry cannot be read
     * @throws IllegalStateException (and DL4J's runtime exceptions) if the content is not a graph
     */
    public static ComputationGraph restoreGraph(ZipFile zip, boolean loadUpdater) throws IOException {
        return DeserializationGuard.whileReadingModelFile(() -> {
            String json = text(zip, zip.getEntry(CONFIGURATION));
            // DL4J instantiates the "@class" names in it: only its own, ND4J's and this program's.
            ConfigurationTypes.check(zip.getName(), json);
            ComputationGraphConfiguration conf = ComputationGraphConfiguration.fromJson(json);
            if (conf.getNetworkInputs() == null && (conf.getVertices() == null || conf.getVertices().isEmpty())) {
                throw new IllegalStateException(CONFIGURATION + " is not a ComputationGraph configuration");
            }
            // Nd4j.read allocates what a header declares before reading it: headers are checked first,
            // against the parameter count the configuration implies (what ComputationGraph.init sums),
            // as ArrayEntry.read parses them, in the same single pass over the entry that reads the numbers.
            long expected = 0;
            for (GraphVertex v : conf.getVertices().values()) {
                expected = Math.addExact(expected, v.numParams(true));
            }
            ZipEntry coefficients = zip.getEntry(COEFFICIENTS);
            if (coefficients == null && expected > 0) {
                throw new UserError("model zip " + zip.getName() + " has no " + COEFFICIENTS + " but its " + CONFIGURATION
                        + " implies " + expected + " parameters: refused; retrain, or pass another file");
            }
            checkMemory(zip, expected, conf.getDataType());
            INDArray params = coefficients == null ? null : ArrayEntry.read(zip, coefficients, expected);
            if (params != null) {
                conf.setDataType(params.dataType());
            }
            ComputationGraph net = new ComputationGraph(conf);
            net.init(params, false);
            ZipEntry updater = zip.getEntry(UPDATER_STATE);
            if (loadUpdater && updater != null) {
                INDArray state = net.getUpdater().getStateViewArray();
                INDArray saved = ArrayEntry.read(zip, updater, state == null ? 0 : state.length());
                if (saved != null) {
                    net.getUpdater().setStateViewArray(saved);
                }
            }
            return net;
        });
    }

    /** A configuration can imply more parameters than ND4J may allocate: a one-line refusal, not an OutOfMemoryError. */
    private static void checkMemory(ZipFile zip, long parameters, DataType type) {
        long limit = Pointer.maxBytes();
        long bytes = parameters * Math.max(type == null ? 4 : type.width(), 1);
        if (limit > 0 && (bytes < 0 || bytes > limit)) {
            throw new UserError("model zip " + zip.getName() + ": its " + CONFIGURATION + " implies " + parameters
                    + " parameters (" + (bytes >> 20) + " MB), more than ND4J may allocate (" + (limit >> 20)
                    + " MB, -Dorg.bytedeco.javacpp.maxbytes): refused; pass another file, or raise the limit if it is genuine");
        }
    }

    private static String text(ZipFile zip, ZipEntry e) throws IOException {
        try (InputStream in = zip.getInputStream(e)) {
            byte[] b = in.readNBytes((int) MAX_CONFIGURATION_BYTES + 1);
            if (b.length > MAX_CONFIGURATION_BYTES) {
                throw new IOException(e.getName() + " is larger than " + (MAX_CONFIGURATION_BYTES >> 20) + " MB");
            }
            return new String(b, StandardCharsets.UTF_8);
        }
    }

    private static String oneLine(String s) {
        return s.replaceAll("\\p{Cntrl}", "?");
    }

    static void closeQuietly(ZipFile zip) {
        try {
            zip.close();
        } catch (IOException ignored) {
            // nothing was written; the caller reports the real problem
        }
    }
}
