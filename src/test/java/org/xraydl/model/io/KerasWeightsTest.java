package org.xraydl.model.io;

import org.xraydl.model.Heads;
import org.xraydl.model.DenseNetBuilder;
import org.xraydl.model.HeadSpec;
import org.xraydl.model.ModelFactory;
import org.xraydl.model.DenseNetSpec;

import org.bytedeco.hdf5.Attribute;
import org.bytedeco.hdf5.DataSet;
import org.bytedeco.hdf5.DataSpace;
import org.bytedeco.hdf5.Group;
import org.bytedeco.hdf5.H5File;
import org.bytedeco.hdf5.H5Object;
import org.bytedeco.hdf5.PredType;
import org.bytedeco.hdf5.StrType;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.modelimport.keras.Hdf5Archive;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;

import static org.bytedeco.hdf5.global.hdf5.H5F_ACC_TRUNC;
import static org.bytedeco.hdf5.global.hdf5.H5S_SCALAR;
import static org.bytedeco.hdf5.global.hdf5.H5T_STR_NULLPAD;
import static org.bytedeco.hdf5.global.hdf5.H5T_VARIABLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Writes tiny Keras-format .h5 files for a compact DenseNet from Java (the layout h5py/Keras 2
 * write: nested groups for names with '/', {@code layer_names}/{@code weight_names} string-array
 * attributes, HWIO conv kernels) and loads them through the project's real {@code --weights} path.
 * The Keras side is described here from Keras' densenet.py naming, independently of
 * {@link DenseNetBuilder}, so a naming drift between the two fails the test.
 */
class KerasWeightsTest {
    private static final int GROWTH = 4;
    private static final List<Integer> BLOCKS = List.of(1, 1);
    private static final int INIT = 8;
    private static final int IMAGE = 32;
    /** Layers with weights in the tiny trunk. */
    private static final int TRUNK_PARAM_LAYERS = 13;

    @TempDir
    Path tmp;

    @BeforeAll
    static void loadHdf5() throws ClassNotFoundException {
        Class.forName(Hdf5Archive.class.getName()); // loads the native HDF5 library
    }

    // ---------------------------------------------------------------- happy paths

    @Test
    void weightsOnlyFileLoadsThroughModelFactoryWithLayoutsConverted() {
        KerasFile keras = KerasFile.denseNet(GROWTH, BLOCKS, INIT, 7, 1L);
        Path h5 = keras.write(tmp.resolve("densenet_weights_tf_dim_ordering_tf_kernels.h5"), false, false);

        ComputationGraph net = ModelFactory.create(config(h5, GROWTH), 2, null);

        assertTrunkEquals(keras, net);
        assertBatchNormUsesRunningStats(keras, net, "conv1/bn", 8);
        assertBatchNormUsesRunningStats(keras, net, "pool2_bn", 12);
    }

    @Test
    void fullModelFileWithVariableLengthNamesLoadsFromModelWeights() {
        KerasFile keras = KerasFile.denseNet(GROWTH, BLOCKS, INIT, 7, 2L);
        Path h5 = keras.write(tmp.resolve("densenet_full.h5"), true, true);

        ComputationGraph net = DenseNetBuilder.build(DenseNetSpec.compact(GROWTH, BLOCKS, INIT), IMAGE, 3, 1, 1e-3,
                new HeadSpec(List.of(), List.of(), 2, null));
        int copied = WeightFiles.copyInto(h5, net, Heads.PREFIX);

        assertEquals(TRUNK_PARAM_LAYERS, copied);
        assertTrunkEquals(keras, net);
    }

    @Test
    void fullSizeDenseNet121LayerNamesAndShapesAllMap() {
        KerasFile keras = KerasFile.denseNet(32, List.of(6, 12, 24, 16), 64, 1, 3L);
        keras.layers.remove("fc1000"); // the _notop file
        Path h5 = keras.write(tmp.resolve("densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"), false, false);

        ComputationGraph net = DenseNetBuilder.build(DenseNetSpec.densenet121(), IMAGE, 3, 1, 1e-3,
                new HeadSpec(List.of(), List.of(), 2, null));
        assertEquals(120 + 121, WeightFiles.copyInto(h5, net, Heads.PREFIX), "120 convolutions and 121 batch norms");

        for (String conv : List.of("conv1/conv", "conv5_block16_2_conv")) {
            assertConvKernel(conv, keras.layers.get(conv).get("kernel"), net.getLayer(conv).getParam("W"));
        }
        assertVector("bn moving_mean", keras.layers.get("bn").get("moving_mean").data, net.getLayer("bn").getParam("mean"), 0);
        assertEquals(1024, DenseNetSpec.densenet121().outputChannels());
    }

    @Test
    void dl4jZipRoundTripsThroughCopyInto() throws Exception {
        HeadSpec head = new HeadSpec(List.of(), List.of(), 2, null);
        DenseNetSpec spec = DenseNetSpec.compact(GROWTH, BLOCKS, INIT);
        ComputationGraph source = DenseNetBuilder.build(spec, IMAGE, 3, 11, 1e-3, head);
        source.getLayer("bn").getParam("mean").assign(Nd4j.rand(1, 10).reshape(10));
        source.getLayer("bn").getParam("log10stdev").assign(Nd4j.rand(1, 10).reshape(10));
        Path zip = tmp.resolve("source.zip");
        ModelSerializer.writeModel(source, zip.toFile(), false);

        ComputationGraph target = DenseNetBuilder.build(spec, IMAGE, 3, 12, 1e-3, head);
        assertFalse(source.getLayer("conv1/conv").getParam("W").equals(target.getLayer("conv1/conv").getParam("W")));
        assertEquals(TRUNK_PARAM_LAYERS, WeightFiles.copyInto(zip, target, Heads.PREFIX));

        for (String layer : List.of("conv1/conv", "conv1/bn", "conv3_block1_2_conv", "bn")) {
            assertEquals(source.getLayer(layer).paramTable(), target.getLayer(layer).paramTable(), layer);
        }
        assertFalse(source.getLayer(Heads.OUTPUT).getParam("W").equals(target.getLayer(Heads.OUTPUT).getParam("W")),
                "the head is not copied");
    }

    @Test
    void tensorflowNameSuffixesAreStripped() {
        assertEquals("kernel", KerasWeights.kerasParamName("conv1/conv/kernel:0"));
        assertEquals("kernel", KerasWeights.kerasParamName("conv1/conv_1/kernel:0"));
        assertEquals("moving_variance", KerasWeights.kerasParamName("bn/moving_variance_1:0"));
        assertEquals("gamma", KerasWeights.kerasParamName("gamma"));
    }

    // ---------------------------------------------------------------- errors users see

    @Test
    void randomBytesNamedH5GiveOneLineError() throws Exception {
        Path bad = Files.write(tmp.resolve("random.h5"), randomBytes(4096, 3));
        assertModelFails(bad, "not an HDF5 file");
    }

    @Test
    void emptyFileGivesOneLineError() throws Exception {
        Path bad = Files.write(tmp.resolve("empty.h5"), new byte[0]);
        assertModelFails(bad, "not an HDF5 file");
    }

    @Test
    void randomBytesNamedZipGiveOneLineError() throws Exception {
        Path bad = Files.write(tmp.resolve("random.zip"), randomBytes(4096, 4));
        assertModelFails(bad, "DL4J model .zip");
    }

    @Test
    void truncatedH5GivesOneLineError() throws Exception {
        Path good = KerasFile.denseNet(GROWTH, BLOCKS, INIT, 7, 5L).write(tmp.resolve("whole.h5"), false, false);
        byte[] all = Files.readAllBytes(good);
        Path bad = Files.write(tmp.resolve("truncated.h5"), Arrays.copyOf(all, all.length / 3));
        assertModelFails(bad, "Keras");
    }

    @Test
    void hdf5WithoutKerasStructureGivesOneLineError() {
        Path bad = tmp.resolve("not_keras.h5");
        H5Writer w = new H5Writer(bad);
        w.dataset(w.root, "x", new long[]{3}, new float[]{1, 2, 3});
        w.close();
        assertModelFails(bad, "no layer_names");
    }

    @Test
    void wrongArchitectureNamesLayerAndShapes() {
        Path h5 = KerasFile.denseNet(8, BLOCKS, INIT, 7, 6L).write(tmp.resolve("growth8.h5"), false, false);
        UserError e = assertModelFails(h5, "conv2_block1_1_conv");
        assertTrue(e.getMessage().contains("[32, 8, 1, 1]") && e.getMessage().contains("[16, 8, 1, 1]"), e.getMessage());
    }

    @Test
    void missingLayerIsNamed() {
        KerasFile keras = KerasFile.denseNet(GROWTH, BLOCKS, INIT, 7, 7L);
        keras.layers.remove("conv3_block1_1_bn");
        Path h5 = keras.write(tmp.resolve("missing.h5"), false, false);
        assertModelFails(h5, "first: conv3_block1_1_bn");
    }

    @Test
    void weightsOnlyFileCannotBuildAGraphForVgg16() {
        Path h5 = KerasFile.denseNet(GROWTH, BLOCKS, INIT, 7, 8L).write(tmp.resolve("weights_only.h5"), false, false);
        assertUserError(h5, "model.save()", () -> WeightFiles.load(h5));
    }

    // ---------------------------------------------------------------- assertions

    private static void assertTrunkEquals(KerasFile keras, ComputationGraph net) {
        int checked = 0;
        for (Map.Entry<String, Map<String, Tensor>> layer : keras.layers.entrySet()) {
            String name = layer.getKey();
            if (layer.getValue().isEmpty() || name.equals("fc1000")) {
                continue;
            }
            Layer l = net.getLayer(name);
            assertNotNull(l, "model has no layer " + name);
            Map<String, Tensor> w = layer.getValue();
            if (w.containsKey("kernel")) {
                assertEquals(Set.of("W"), l.paramTable().keySet(), name);
                assertConvKernel(name, w.get("kernel"), l.getParam("W"));
            } else {
                assertEquals(Set.of("gamma", "beta", "mean", "log10stdev"), l.paramTable().keySet(), name);
                assertVector(name + " gamma", w.get("gamma").data, l.getParam("gamma"), 0);
                assertVector(name + " beta", w.get("beta").data, l.getParam("beta"), 0);
                assertVector(name + " moving_mean", w.get("moving_mean").data, l.getParam("mean"), 0);
                float[] var = w.get("moving_variance").data;
                float[] log10std = new float[var.length];
                for (int i = 0; i < var.length; i++) {
                    log10std[i] = (float) Math.log10(Math.sqrt(var[i]));
                }
                assertVector(name + " moving_variance as log10(stdev)", log10std, l.getParam("log10stdev"), 1e-6);
            }
            checked++;
        }
        assertEquals(TRUNK_PARAM_LAYERS, checked);
    }

    /** W[o, i, y, x] (DL4J) must equal kernel[y, x, i, o] (Keras), element by element. */
    private static void assertConvKernel(String name, Tensor kernel, INDArray w) {
        long kh = kernel.shape[0];
        long kw = kernel.shape[1];
        long in = kernel.shape[2];
        long out = kernel.shape[3];
        assertEquals(List.of(out, in, kh, kw), Arrays.stream(w.shape()).boxed().toList(), name + " W shape");
        for (int y = 0; y < kh; y++) {
            for (int x = 0; x < kw; x++) {
                for (int i = 0; i < in; i++) {
                    for (int o = 0; o < out; o++) {
                        float expected = kernel.data[(int) (((y * kw + x) * in + i) * out + o)];
                        assertEquals(expected, w.getFloat(o, i, y, x), 0f, name + " W[" + o + "," + i + "," + y + "," + x + "]");
                    }
                }
            }
        }
    }

    private static void assertVector(String what, float[] expected, INDArray actual, double tol) {
        assertEquals(expected.length, actual.length(), what);
        INDArray flat = actual.reshape(actual.length());
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], flat.getFloat(i), tol, what + "[" + i + "]");
        }
    }

    /** The layer's inference output must be gamma * (x - moving_mean) / sqrt(moving_variance + eps) + beta. */
    private static void assertBatchNormUsesRunningStats(KerasFile keras, ComputationGraph net, String name, int channels) {
        Map<String, Tensor> w = keras.layers.get(name);
        Random r = new Random(9);
        float[] xs = new float[channels * 4];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) (4 * r.nextGaussian());
        }
        INDArray x = Nd4j.create(xs, new long[]{1, channels, 2, 2}, 'c');
        INDArray y = net.getLayer(name).activate(x, false, LayerWorkspaceMgr.noWorkspaces());
        for (int c = 0; c < channels; c++) {
            double g = w.get("gamma").data[c];
            double b = w.get("beta").data[c];
            double m = w.get("moving_mean").data[c];
            double v = w.get("moving_variance").data[c];
            for (int h = 0; h < 2; h++) {
                for (int ww = 0; ww < 2; ww++) {
                    double expected = g * (x.getDouble(0, c, h, ww) - m) / Math.sqrt(v + 1.001e-5) + b;
                    assertEquals(expected, y.getDouble(0, c, h, ww), 1e-4 * Math.max(1, Math.abs(expected)),
                            name + " output at channel " + c);
                }
            }
        }
    }

    /** Building the test's DenseNet with {@code file} as its weights fails with one line naming it. */
    private UserError assertModelFails(Path file, String expectedPart) {
        return assertUserError(file, expectedPart, () -> ModelFactory.create(config(file, GROWTH), 2, null));
    }

    private static UserError assertUserError(Path file, String expectedPart, Runnable action) {
        UserError e = assertThrows(UserError.class, action::run);
        String m = e.getMessage();
        assertTrue(m.contains(file.toString()), "names the file: " + m);
        assertTrue(m.contains(expectedPart), "says '" + expectedPart + "': " + m);
        assertFalse(m.contains("\n") || m.contains("\r"), "one line: " + m);
        return e;
    }

    private RunConfig config(Path weights, int growth) {
        Map<String, Object> o = new HashMap<>();
        o.put("model", "densenet");
        o.put("weights", weights.toString());
        o.put("densenetGrowth", growth);
        o.put("densenetBlocks", BLOCKS);
        o.put("densenetInitFeatures", INIT);
        o.put("imageSize", IMAGE);
        o.put("headHidden", List.of());
        o.put("headDropout", List.of());
        return ConfigLoader.load(null, o);
    }

    private static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    // ---------------------------------------------------------------- the Keras side

    record Tensor(long[] shape, float[] data) {
    }

    /** A Keras DenseNet's layers (in Keras' construction order) and weights, named as in Keras' densenet.py. */
    static final class KerasFile {
        final Map<String, Map<String, Tensor>> layers = new LinkedHashMap<>();
        /** Weight name prefix per layer when TF uniquified the scope (e.g. conv1/conv_1/kernel:0). */
        final Map<String, String> scopes = new HashMap<>();
        private final Random random;

        private KerasFile(long seed) {
            random = new Random(seed);
        }

        static KerasFile denseNet(int growth, List<Integer> blocks, int init, int classes, long seed) {
            KerasFile k = new KerasFile(seed);
            k.none("input_1");
            k.none("zero_padding2d");
            k.conv("conv1/conv", 7, 3, init);
            k.scopes.put("conv1/conv", "conv1/conv_1"); // TF1 may uniquify the variable scope; the group is still the layer name
            k.bn("conv1/bn", init);
            k.none("conv1/relu");
            k.none("zero_padding2d_1");
            k.none("pool1");
            int c = init;
            for (int b = 0; b < blocks.size(); b++) {
                int stage = b + 2;
                for (int l = 1; l <= blocks.get(b); l++) {
                    String p = "conv" + stage + "_block" + l;
                    k.bn(p + "_0_bn", c);
                    k.none(p + "_0_relu");
                    k.conv(p + "_1_conv", 1, c, 4 * growth);
                    k.bn(p + "_1_bn", 4 * growth);
                    k.none(p + "_1_relu");
                    k.conv(p + "_2_conv", 3, 4 * growth, growth);
                    k.none(p + "_concat");
                    c += growth;
                }
                if (b < blocks.size() - 1) {
                    String p = "pool" + stage;
                    k.bn(p + "_bn", c);
                    k.none(p + "_relu");
                    k.conv(p + "_conv", 1, c, c / 2);
                    k.none(p + "_pool");
                    c = c / 2;
                }
            }
            k.bn("bn", c);
            k.none("relu");
            k.none("avg_pool");
            Map<String, Tensor> fc = new LinkedHashMap<>();
            fc.put("kernel", k.tensor(new long[]{c, classes}, 1, 0));
            fc.put("bias", k.tensor(new long[]{classes}, 1, 0));
            k.layers.put("fc1000", fc);
            return k;
        }

        private void none(String name) {
            layers.put(name, Map.of());
        }

        private void conv(String name, int k, int in, int out) {
            layers.put(name, Map.of("kernel", tensor(new long[]{k, k, in, out}, 1, 0)));
        }

        private void bn(String name, int n) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            w.put("gamma", tensor(new long[]{n}, 0.5, 1));
            w.put("beta", tensor(new long[]{n}, 0.5, 0));
            w.put("moving_mean", tensor(new long[]{n}, 1, 0));
            float[] var = new float[n];
            for (int i = 0; i < n; i++) {
                var[i] = 0.05f + 2 * random.nextFloat();
            }
            w.put("moving_variance", new Tensor(new long[]{n}, var));
            layers.put(name, w);
        }

        private Tensor tensor(long[] shape, double scale, double offset) {
            int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
            float[] d = new float[n];
            for (int i = 0; i < n; i++) {
                d[i] = (float) (offset + scale * random.nextGaussian());
            }
            return new Tensor(shape, d);
        }

        /**
         * Writes the file as Keras 2 does: save_weights() layout at the root, or (fullModel) a
         * model_config attribute and the same layout under model_weights. Groups are created in
         * sorted layer-name order, as Keras does.
         */
        Path write(Path file, boolean fullModel, boolean variableLengthStrings) {
            H5Writer w = new H5Writer(file);
            Group root = w.root;
            if (fullModel) {
                w.strings(w.root, "model_config", List.of("{\"class_name\": \"Functional\", \"config\": {\"name\": \"densenet\"}}"),
                        false, true);
                root = w.group(w.root, "model_weights");
            }
            w.strings(root, "layer_names", new ArrayList<>(layers.keySet()), variableLengthStrings, false);
            w.strings(root, "backend", List.of("tensorflow"), false, true);
            w.strings(root, "keras_version", List.of("2.2.4"), false, true);
            for (Map.Entry<String, Map<String, Tensor>> layer : new TreeMap<>(layers).entrySet()) {
                Group g = w.group(root, layer.getKey());
                List<String> names = new ArrayList<>();
                for (String param : layer.getValue().keySet()) {
                    names.add(scopes.getOrDefault(layer.getKey(), layer.getKey()) + "/" + param + ":0");
                }
                if (names.isEmpty()) {
                    w.emptyFloatArray(g, "weight_names"); // np.asarray([]) is float64 of shape (0,)
                } else {
                    w.strings(g, "weight_names", names, variableLengthStrings, false);
                }
                int i = 0;
                for (Tensor t : layer.getValue().values()) {
                    w.dataset(g, names.get(i++), t.shape, t.data);
                }
            }
            w.close();
            return file;
        }
    }

    /** Minimal HDF5 writing with the bytedeco API; every opened object is closed before the file. */
    static final class H5Writer {
        final H5File file;
        final Group root;
        private final List<Pointer> open = new ArrayList<>();

        H5Writer(Path path) {
            synchronized (Hdf5Archive.LOCK_OBJECT) {
                file = new H5File(path.toString(), H5F_ACC_TRUNC());
            }
            root = file;
        }

        /** Creates (or opens) a group, with intermediate groups for '/' in the name, as h5py does. */
        Group group(Group parent, String path) {
            synchronized (Hdf5Archive.LOCK_OBJECT) {
                Group g = parent;
                for (String part : path.split("/")) {
                    g = keep(g.nameExists(part) ? g.openGroup(part) : g.createGroup(part));
                }
                return g;
            }
        }

        void dataset(Group parent, String path, long[] shape, float[] data) {
            synchronized (Hdf5Archive.LOCK_OBJECT) {
                int slash = path.lastIndexOf('/');
                Group g = slash < 0 ? parent : group(parent, path.substring(0, slash));
                DataSpace space = keep(new DataSpace(shape.length, shape));
                DataSet ds = keep(g.createDataSet(path.substring(slash + 1), PredType.IEEE_F32LE(), space));
                ds.write(keep(new FloatPointer(data)), PredType.NATIVE_FLOAT());
            }
        }

        void strings(H5Object o, String name, List<String> values, boolean variableLength, boolean scalar) {
            synchronized (Hdf5Archive.LOCK_OBJECT) {
                DataSpace space = keep(scalar ? new DataSpace(H5S_SCALAR) : new DataSpace(1, new long[]{values.size()}));
                if (variableLength) {
                    StrType type = keep(new StrType(PredType.C_S1(), H5T_VARIABLE()));
                    Attribute a = keep(o.createAttribute(name, type, space));
                    PointerPointer<BytePointer> ptrs = keep(new PointerPointer<>(values.size()));
                    for (int i = 0; i < values.size(); i++) {
                        ptrs.put(i, keep(new BytePointer(values.get(i), StandardCharsets.UTF_8)));
                    }
                    a.write(type, ptrs);
                } else {
                    int size = Math.max(1, values.stream().mapToInt(s -> s.getBytes(StandardCharsets.UTF_8).length).max().orElse(1));
                    StrType type = keep(new StrType(PredType.C_S1(), size));
                    type.setStrpad(H5T_STR_NULLPAD); // numpy 'S' arrays: NUL-padded, not NUL-terminated
                    byte[] bytes = new byte[size * values.size()];
                    for (int i = 0; i < values.size(); i++) {
                        byte[] s = values.get(i).getBytes(StandardCharsets.UTF_8);
                        System.arraycopy(s, 0, bytes, i * size, s.length);
                    }
                    Attribute a = keep(o.createAttribute(name, type, space));
                    a.write(type, (Pointer) keep(new BytePointer(bytes))); // not the std::string overload
                }
            }
        }

        void emptyFloatArray(H5Object o, String name) {
            synchronized (Hdf5Archive.LOCK_OBJECT) {
                DataSpace space = keep(new DataSpace(1, new long[]{0}));
                keep(o.createAttribute(name, PredType.IEEE_F64LE(), space));
            }
        }

        private <T extends Pointer> T keep(T p) {
            open.add(p);
            return p;
        }

        void close() {
            synchronized (Hdf5Archive.LOCK_OBJECT) {
                for (int i = open.size() - 1; i >= 0; i--) {
                    open.get(i).deallocate();
                }
                file.deallocate();
            }
        }
    }
}
