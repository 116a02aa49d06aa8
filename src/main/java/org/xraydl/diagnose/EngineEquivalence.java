package org.xraydl.diagnose;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;
import org.xraydl.cli.Main;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.kernels.FastLayers;
import org.xraydl.kernels.NativeHelpers;
import org.xraydl.kernels.OpenMpSpin;
import org.xraydl.kernels.ShapeInfoCache;
import org.xraydl.model.ModelFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/**
 * Cross-engine check, Java side: loads the weights and batches written by {@code tools/torch_equivalence.py}
 * (torchvision's compact DenseNet) into the project's own DenseNet, built as {@code train} builds it from a
 * config file, and compares per tensor: the train-mode activations of every layer, the logits, the loss, every
 * parameter gradient, the batch-norm running statistics after one step, the parameters after 1 and after all
 * AdamW steps, and the eval-mode logits before and after. Prints one markdown table per case (max abs and
 * relative error per category, with PyTorch's own float32-vs-float64 difference as the noise floor where there is
 * one) and writes the per-tensor rows to {@code DATA/CASE/java-MODE.tsv}.
 *
 * <pre>
 * java ... org.xraydl.diagnose.EngineEquivalence [--data target/equiv] [--config config/full-cpu.yaml] [--mode fast|helpers|plain]
 * </pre>
 * A bad argument or a missing or unreadable dump is one line on stderr and exit status 2, as in the CLI
 * ({@link Main#commandLine}).
 * Modes: {@code fast} the project's defaults (oneDNN helpers and the org.xraydl.kernels layers); {@code helpers}
 * DL4J's own layers with its oneDNN helpers (every {@code -Dxraydl.fast*} lever off); {@code plain} DL4J's own layers
 * without helpers (its Java/ND4J code paths). The run overrides {@code imageSize} (the data's), {@code batchSize},
 * {@code learningRate} and {@code weightDecay} (the manifest's) and sets {@code lrSchedule: constant} (PyTorch's
 * steps ran at a constant rate; the one-cycle schedule starts at learningRate anyway).
 *
 * <p>Conventions the comparison accounts for (and reports): DL4J's dense W is [nIn, nOut] (torch: [out, in]); its
 * batch norm keeps log10(std) of the running variance when {@code useLogStd} (var = (10^p)^2); its gradient is that of
 * the sum of the weighted per-example losses divided by the batch size, PyTorch's weighted cross-entropy divides by
 * the sum of the weights in the batch, so DL4J's gradient x (batch / sum of weights) is compared (the fitted factor
 * is printed). The Python trajectories ({@code step*}) use the batch-size normalisation, so the steps compare
 * arithmetic; {@code native_step*} (PyTorch's own normalisation) is compared with them to size that difference.
 */
public final class EngineEquivalence {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final JsonNode manifest;
    private final PrintWriter tsv;
    /** category -> rows (tensor, max abs, ref max abs, rel, floor rel). */
    private final Map<String, List<Row>> rows = new LinkedHashMap<>();

    /**
     * One comparison: max abs error, the reference's max abs, their ratio (rel), the relative L2 error ||a-b|| / ||b||,
     * and the same two for PyTorch float32 against float64 (NaN where there is no float64 reference).
     */
    record Row(String category, String tensor, long n, double maxAbs, double refMax, double rel, double l2, double floorRel, double floorL2) {
    }

    private EngineEquivalence(Path dir, PrintWriter tsv) {
        this.dir = dir;
        Path file = dir.resolve("manifest.json");
        try {
            this.manifest = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UserError("dump file " + file + " cannot be read as JSON (" + e.getClass().getSimpleName() + "): " + RERUN);
        }
        this.tsv = tsv;
    }

    /** What to do about a missing or unreadable dump: the Python side writes it. */
    private static final String RERUN = "run tools/torch_equivalence.py --out DIR first and pass --data DIR";

    static final List<String> MODES = List.of("fast", "helpers", "plain");

    @Command(name = "EngineEquivalence", sortOptions = false, usageHelpAutoWidth = true,
            description = "Compares the project's DenseNet with the tensors tools/torch_equivalence.py wrote (torchvision's).")
    static final class Cli implements Callable<Integer> {
        @Option(names = "--data", paramLabel = "DIR", defaultValue = "target/equiv",
                description = "Folder of case folders (each with a manifest.json) written by tools/torch_equivalence.py --out (default: ${DEFAULT-VALUE})")
        Path data;
        @Option(names = "--config", paramLabel = "FILE", defaultValue = "config/full-cpu.yaml",
                description = "Run configuration the network is built from, as train builds it (default: ${DEFAULT-VALUE})")
        Path config;
        @Option(names = "--mode", paramLabel = "MODE", defaultValue = "fast",
                description = "fast (the project's defaults), helpers (DL4J's layers with oneDNN) or plain (DL4J's layers, no helpers) (default: ${DEFAULT-VALUE})")
        String mode;
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit")
        boolean help;

        @Override
        public Integer call() throws IOException {
            OpenMpSpin.applyBeforeNd4j(); // as the CLI does before ND4J loads
            ShapeInfoCache.applyBeforeNd4j();
            if (!MODES.contains(mode)) {
                throw new UserError("--mode must be one of " + String.join(", ", MODES) + ", got '" + mode + "'");
            }
            if (!Files.isDirectory(data)) {
                throw new UserError("data folder not found: " + data + " (" + RERUN + ")");
            }
            if (!Files.isRegularFile(config)) {
                throw new UserError("config file not found: " + config + " (pass --config config/full-cpu.yaml or another YAML file)");
            }
            List<Path> cases = new ArrayList<>();
            try (var s = Files.list(data)) {
                s.filter(p -> Files.isRegularFile(p.resolve("manifest.json"))).sorted().forEach(cases::add);
            }
            if (cases.isEmpty()) {
                throw new UserError("no case folders with a manifest.json under " + data + ": " + RERUN);
            }
            applyMode(mode);
            for (Path c : cases) {
                try (PrintWriter tsv = new PrintWriter(Files.newBufferedWriter(c.resolve("java-" + mode + ".tsv")))) {
                    tsv.println("category\ttensor\tn\tmax_abs_err\tref_max_abs\trel_err\trel_l2_err\ttorch_f32_vs_f64_rel\ttorch_f32_vs_f64_rel_l2");
                    new EngineEquivalence(c, tsv).run(config, mode);
                }
            }
            return 0;
        }
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /**
     * Parses {@code args} and runs the comparison; returns the exit status (0, 2 for a bad argument or a missing or
     * unreadable dump, one line on stderr, as the CLI does) and never calls System.exit (tests use this).
     */
    public static int run(String... args) {
        return Main.commandLine(new Cli()).execute(args);
    }

    static void applyMode(String mode) {
        switch (mode) {
            case "fast" -> NativeHelpers.ensureConfigured();
            case "helpers", "plain" -> {
                for (String p : List.of(FastLayers.FAST_BATCH_NORM_PROPERTY, FastLayers.FAST_RELU_PROPERTY, FastLayers.FAST_POOLING_PROPERTY,
                        FastLayers.FAST_CONV_PROPERTY, FastLayers.FAST_STEM_PROPERTY, FastLayers.FAST_MERGE_PROPERTY)) {
                    System.setProperty(p, "false");
                }
                NativeHelpers.configure(mode.equals("helpers"));
            }
            default -> throw new UserError("--mode must be one of " + String.join(", ", MODES) + ", got '" + mode + "'");
        }
    }

    private void run(Path config, String mode) throws IOException {
        int batch = field("batch").asInt();
        int steps = field("steps").asInt();
        double lr = field("lr").asDouble();
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("imageSize", field("size").asInt());
        o.put("batchSize", batch);
        o.put("learningRate", lr);
        o.put("weightDecay", field("weight_decay").asDouble());
        o.put("lrSchedule", "constant");
        RunConfig c = ConfigLoader.load(config, o);
        float[] cw = floats(npy("class_weights.npy"));
        ComputationGraph net = ModelFactory.create(c, 2, new double[]{cw[0], cw[1]});
        boolean logStd = net.getLayer("bn").paramTable().containsKey("log10stdev");
        System.out.printf(Locale.ROOT, "%n### case %s, mode %s (helpers %s; batch norm keeps %s; config %s: optimizer %s, wd %g, BN eps %s)%n%n",
                field("case").asText(), mode, NativeHelpers.enabled(), logStd ? "log10(std)" : "the variance",
                config, c.optimizer(), c.weightDecay(), ((org.deeplearning4j.nn.conf.layers.BatchNormalization)
                        net.getLayer("bn").conf().getLayer()).getEps());
        System.out.println("layers: " + layerClasses(net));
        loadWeights(net, logStd);

        INDArray x0 = npy("x0.npy");
        INDArray y0 = npy("y0.npy");
        compareLogits("eval logits, initial weights", "eval_init", logits(net, x0, false), npy("eval_init.npy"), null);

        // train-mode forward: every layer, then the logits
        Map<String, INDArray> acts = net.feedForward(new INDArray[]{x0}, true, false);
        File[] actFiles = files("act");
        for (File f : actFiles) {
            String module = f.getName().substring(0, f.getName().length() - 4);
            TorchNames.vertex(module).ifPresent(v -> {
                if (acts.containsKey(v)) {
                    compare(category(v), "act " + v, floats(acts.get(v)), floats(read(f)), null);
                }
            });
        }
        INDArray trainLogits = logits(acts.get("avg_pool"), net);
        compareLogits("train logits", "logits", trainLogits, npy("fwd/logits.npy"), npy("fwd64/logits.npy"));

        // loss and gradients
        net.setInputs(x0);
        net.setLabels(y0);
        net.computeGradientAndScore();
        double reg = net.calcRegularizationScore(true);
        double score = net.score() - reg;
        double torchLoss = npy("fwd/loss.npy").getDouble(0);
        double torchLossN = npy("fwd/loss_n.npy").getDouble(0);
        double sumW = field("sum_weights_batch0").asDouble();
        System.out.printf(Locale.ROOT, "loss: DL4J score %.8f minus its weight-decay term 0.5 wd |W|^2 %.6f = %.8f; PyTorch sum(w_i ce_i)/batch %.8f (diff %.2e), PyTorch weighted mean %.8f"
                        + " (= sum / %.4f, the sum of the weights)%n", score + reg, reg, score, torchLossN, score - torchLossN, torchLoss, sumW);
        record("loss (DL4J score - decay term vs PyTorch sum/batch)", "loss", 1, Math.abs(score - torchLossN), Math.abs(torchLossN),
                Math.abs(score - torchLossN) / Math.abs(torchLossN), Math.abs(score - torchLossN) / Math.abs(torchLossN), Double.NaN, Double.NaN);
        Map<String, INDArray> grads = new TreeMap<>();
        net.gradient().gradientForVariable().forEach((k, v) -> grads.put(k, v.dup()));
        // DL4J's backprop gives the gradient of the summed weighted losses (its updater divides by the batch size);
        // PyTorch's weighted mean divides that sum by the sum of the weights
        double theory = 1.0 / sumW;
        double num = 0, den = 0;
        List<String[]> gradRows = new ArrayList<>();
        for (JsonNode pn : field("parameters")) {
            String t = pn.asText();
            String[] vp = TorchNames.parameter(t).orElseThrow();
            INDArray g = grads.get(vp[0] + "_" + vp[1]);
            if (g == null) {
                throw new IllegalStateException("no DL4J gradient for " + t + " (" + vp[0] + "_" + vp[1] + ")");
            }
            float[] a = torchLayout(vp[1], g);
            float[] b = floats(npy("grad/" + t + ".npy"));
            for (int i = 0; i < a.length; i++) {
                num += (double) a[i] * b[i];
                den += (double) a[i] * a[i];
            }
            gradRows.add(new String[]{t, vp[0] + "_" + vp[1]});
        }
        System.out.printf(Locale.ROOT, "gradient scale: least-squares factor PyTorch/DL4J %.6f; 1 / sum of weights %.6f (used)%n", num / den, theory);
        for (String[] r : gradRows) {
            String[] vp = TorchNames.parameter(r[0]).orElseThrow();
            float[] a = torchLayout(vp[1], grads.get(r[1]));
            for (int i = 0; i < a.length; i++) {
                a[i] *= (float) theory;
            }
            compare("grad " + paramKind(r[0]), "grad " + r[0], a, floats(npy("grad/" + r[0] + ".npy")), floats(npy("grad64/" + r[0] + ".npy")));
        }

        compareLayersInIsolation(net);
        compareActivationGradients(net, x0, y0, 1.0 / sumW);

        // steps
        Map<String, float[]> init = snapshot(net, logStd);
        for (int k = 0; k < steps; k++) {
            net.fit(new DataSet(npy("x" + k + ".npy"), npy("y" + k + ".npy")));
            if (k == 0) {
                compareAll(snapshot(net, logStd), init, "step1", null, "after 1 step vs torch.optim.AdamW (loss / batch)");
                compareBiasedVariance(snapshot(net, logStd), init);
                compareState(snapshot(net, logStd), init, "dl4j_step1", "dl4j64_step1", "after 1 step");
            }
        }
        Map<String, float[]> last = snapshot(net, logStd);
        compareAll(last, init, "step" + steps, null, "after " + steps + " steps vs torch.optim.AdamW (loss / batch)");
        compareState(last, init, "dl4j_step" + steps, "dl4j64_step" + steps, "after " + steps + " steps");
        // size of the documented normalisation difference, PyTorch alone: its own loss against the batch-size loss
        List<float[]> nat = new ArrayList<>(), ref = new ArrayList<>(), i0 = new ArrayList<>();
        for (String t : names()) {
            if (!t.contains("running")) {
                nat.add(floats(npy("native_step" + steps + "/" + t + ".npy")));
                ref.add(floats(npy("step" + steps + "/" + t + ".npy")));
                i0.add(floats(npy("init/" + t + ".npy")));
            }
        }
        compareUpdate("PyTorch alone: all parameters' update after " + steps + " steps, loss / sum of weights vs loss / batch",
                "all parameters", concat(nat), concat(ref), null, concat(i0));
        INDArray evalLogits = logits(net, x0, false);
        compareLogits("eval logits after " + steps + " steps vs torch.optim.AdamW (loss / batch)", "eval_step" + steps, evalLogits,
                npy("eval_step" + steps + ".npy"), null);
        compareLogits("eval logits after " + steps + " steps vs DL4J semantics", "eval_dl4j_step" + steps, evalLogits,
                npy("eval_dl4j_step" + steps + ".npy"), npy("eval_dl4j64_step" + steps + ".npy"));
        printSummary();
    }

    /**
     * Each layer alone, fed PyTorch's own input to it and PyTorch's gradient with respect to its output (train mode, the
     * initial weights): its output, its input gradient and its parameter gradients against PyTorch's. No error carried
     * from other layers, so a difference here belongs to that layer's implementation. Layers whose input is a
     * concatenation or the network input are left out of the input-gradient comparison (PyTorch has no module output
     * there), batch norms after a concatenation entirely (the fast layers share their statistics across a merge).
     */
    private void compareLayersInIsolation(ComputationGraph net) {
        File[] files = files("act");
        org.deeplearning4j.nn.workspace.LayerWorkspaceMgr mgr = org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces();
        for (File f : files) {
            String module = f.getName().substring(0, f.getName().length() - 4);
            var vertex = TorchNames.vertex(module);
            var in = TorchNames.inputModule(module);
            if (vertex.isEmpty() || in.isEmpty()) {
                continue;
            }
            String v = vertex.get();
            Layer layer = net.getLayer(v);
            INDArray x = npy("act/" + in.get() + ".npy");
            INDArray dy = npy("actgrad/" + module + ".npy");
            layer.setInput(x, mgr);
            INDArray y = layer.activate(true, mgr).dup();
            var pair = layer.backpropGradient(dy, mgr);
            String kind = category(v).substring(4);
            compare("alone: output of " + kind, v, floats(y), floats(read(f)), null);
            compare("alone: input gradient of " + kind, v, floats(pair.getSecond()), floats(npy("actgrad/" + in.get() + ".npy")),
                    floats(npy("actgrad64/" + in.get() + ".npy")));
            for (Map.Entry<String, INDArray> g : pair.getFirst().gradientForVariable().entrySet()) {
                String p = g.getKey().contains("_") ? g.getKey().substring(g.getKey().lastIndexOf('_') + 1) : g.getKey();
                String t = torchName(v, p);
                if (Files.exists(dir.resolve("grad/" + t + ".npy"))) {
                    compare("alone: parameter gradient of " + kind, t, torchLayout(p, g.getValue()), floats(npy("grad/" + t + ".npy")),
                            floats(npy("grad64/" + t + ".npy")));
                }
            }
            layer.clear();
        }
    }

    /**
     * The gradient with respect to every layer's output in the whole network (DL4J's per-vertex epsilons, x 1/sum of
     * the weights) against PyTorch's, to find where a gradient difference starts. DL4J clears the epsilons at the end
     * of a gradient computation, so this runs its backward pass itself ({@code calcBackpropGradients} without clearing,
     * by reflection) after a training-mode forward pass, without workspaces (so the arrays stay readable). The
     * parameters do not change.
     */
    private void compareActivationGradients(ComputationGraph net, INDArray x, INDArray y, double scale) {
        // a copy of the network without workspaces (its configuration cloned, the same parameters, the same layers)
        var conf = net.getConfiguration().clone();
        conf.setTrainingWorkspaceMode(org.deeplearning4j.nn.conf.WorkspaceMode.NONE);
        conf.setInferenceWorkspaceMode(org.deeplearning4j.nn.conf.WorkspaceMode.NONE);
        ComputationGraph copy = new ComputationGraph(conf);
        copy.init(net.params().dup(), false);
        FastLayers.engage(copy); // no-op in the modes with the fast layers off
        Map<String, INDArray> eps = new TreeMap<>();
        try {
            java.lang.reflect.Method backward = ComputationGraph.class.getDeclaredMethod("calcBackpropGradients",
                    boolean.class, boolean.class, INDArray[].class);
            backward.setAccessible(true);
            copy.setInputs(x);
            copy.setLabels(y);
            copy.feedForward(new INDArray[]{x}, true, false);
            backward.invoke(copy, false, false, new INDArray[0]);
            for (var v : copy.getVertices()) {
                if (v.getEpsilon() != null) {
                    eps.put(v.getVertexName(), v.getEpsilon().dup());
                }
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            System.out.println("(per-vertex gradients not readable: " + e + ")");
            return;
        }
        File[] files = files("actgrad");
        for (File f : files) {
            String module = f.getName().substring(0, f.getName().length() - 4);
            TorchNames.vertex(module).filter(eps::containsKey).ifPresent(v -> {
                float[] a = floats(eps.get(v));
                for (int i = 0; i < a.length; i++) {
                    a[i] *= (float) scale;
                }
                float[] b = floats(read(f));
                compare("dL/d(output), whole net: " + category(v).substring(4), "dL/d " + v, a, b,
                        floats(npy("actgrad64/" + f.getName())));
                if (module.endsWith("norm1") || module.endsWith("norm2") || module.endsWith("norm0") || module.endsWith(".norm")
                        || module.equals("norm5")) {
                    kinks(v, a, b, floats(npy("act/" + module + ".npy")));
                }
            });
        }
        System.out.printf(Locale.ROOT, "ReLU kinks: %d elements of the batch-norm output gradients (the ReLUs' input gradients) differ from"
                + " PyTorch's by more than 1e-3 of the tensor's largest; %d of them at a batch-norm output within 1e-4 of zero"
                + " (a ReLU mask flipped by float rounding of the forward pass)%n", kinkCount, kinkNearZero);
        System.out.println("per-vertex gradients read: " + eps.size());
    }

    private int kinkCount;
    private int kinkNearZero;

    /** Counts the elements of a BN-output gradient that differ, and where PyTorch's BN output (the ReLU input) is near 0. */
    private void kinks(String vertex, float[] a, float[] b, float[] bnOut) {
        double max = 0;
        for (float x : b) {
            max = Math.max(max, Math.abs(x));
        }
        StringBuilder near = new StringBuilder();
        for (int i = 0; i < a.length; i++) {
            if (Math.abs(a[i] - b[i]) > 1e-3 * max) {
                kinkCount++;
                if (Math.abs(bnOut[i]) < 1e-4) {
                    kinkNearZero++;
                    near.append(String.format(Locale.ROOT, " [%d: BN output %.2e, gradient DL4J %.3e PyTorch %.3e]", i, bnOut[i], a[i], b[i]));
                }
            }
        }
        if (near.length() > 0) {
            System.out.println("ReLU kink at " + vertex + ":" + near);
        }
    }

    /** Every tensor's change from the initial weights, all in one vector, against a PyTorch state folder. */
    private void compareAll(Map<String, float[]> now, Map<String, float[]> init, String folder, String folder64, String label) {
        List<float[]> a = new ArrayList<>(), b = new ArrayList<>(), i0 = new ArrayList<>();
        for (String t : names()) {
            if (!t.contains("running")) {
                a.add(now.get(t));
                b.add(floats(npy(folder + "/" + t + ".npy")));
                i0.add(init.get(t));
            }
        }
        compareUpdate("update " + label, "all parameters", concat(a), concat(b), null, concat(i0));
    }

    /**
     * Per tensor against PyTorch's steps with DL4J's semantics ({@code manual_trajectory}: loss / batch, DL4J's Adam
     * epsilon, decay on weights only, biased running variance, BN eps 1.001e-5), with its float64 twin as the floor.
     */
    private void compareState(Map<String, float[]> now, Map<String, float[]> init, String folder, String folder64, String label) {
        for (String t : names()) {
            float[] ref = floats(npy(folder + "/" + t + ".npy"));
            float[] ref64 = floats(npy(folder64 + "/" + t + ".npy"));
            float[] i0 = init.get(t);
            String what = t.endsWith("running_mean") ? "BN running mean" : t.endsWith("running_var") ? "BN running var" : "update " + paramKind(t);
            compareUpdate(what + " " + label + " vs DL4J semantics", t, now.get(t), ref, ref64, i0);
        }
    }

    /** After one step: the running variance against PyTorch's plain one (unbiased batch variance) and that made biased. */
    private void compareBiasedVariance(Map<String, float[]> now, Map<String, float[]> init) {
        double m = field("bn_momentum").asDouble();
        for (String t : names()) {
            if (!t.endsWith("running_var")) {
                continue;
            }
            float[] ref = floats(npy("run1/" + t + ".npy"));
            float[] i0 = init.get(t);
            compareUpdate("BN running var after 1 step vs PyTorch's (unbiased)", t, now.get(t), ref, null, i0);
            // v1 = (1-m) v0 + m * s2 * n/(n-1)  ->  (1-m) v0 + m * s2
            String module = t.substring("features.".length(), t.length() - ".running_var".length());
            long[] shape = npy("act/" + module + ".npy").shape();
            double n = shape[0] * shape[2] * shape[3];
            float[] biased = new float[ref.length];
            for (int i = 0; i < ref.length; i++) {
                double unbiasedVar = (ref[i] - (1 - m) * i0[i]) / m;
                biased[i] = (float) ((1 - m) * i0[i] + m * unbiasedVar * (n - 1) / n);
            }
            compareUpdate("BN running var after 1 step vs PyTorch's made biased", t, now.get(t), biased, null, i0);
        }
    }

    private static float[] concat(List<float[]> parts) {
        int n = parts.stream().mapToInt(p -> p.length).sum();
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    private List<String> names() {
        List<String> out = new ArrayList<>();
        field("names").forEach(n -> out.add(n.asText()));
        return out;
    }

    /** Every tensor of the manifest read back from the net, in torchvision's layout (running_var as the variance). */
    private static Map<String, float[]> snapshot(ComputationGraph net, boolean logStd) {
        return new SnapshotReader(net, logStd).read();
    }

    private record SnapshotReader(ComputationGraph net, boolean logStd) {
        Map<String, float[]> read() {
            Map<String, float[]> out = new TreeMap<>();
            for (Layer l : net.getLayers()) {
                String v = l.conf().getLayer().getLayerName();
                for (Map.Entry<String, INDArray> e : l.paramTable().entrySet()) {
                    String p = e.getKey();
                    float[] a;
                    if (p.equals("log10stdev")) {
                        a = floats(e.getValue());
                        for (int i = 0; i < a.length; i++) {
                            float std = (float) Math.pow(10.0, a[i]);
                            a[i] = std * std;
                        }
                        p = "var";
                    } else {
                        a = torchLayout(p, e.getValue());
                    }
                    out.put(torchName(v, p), a);
                }
            }
            return out;
        }
    }

    private static final Map<String, String> REVERSE = new TreeMap<>();

    private static String torchName(String vertex, String param) {
        return REVERSE.getOrDefault(vertex + "|" + param, vertex + "_" + param);
    }

    private void loadWeights(ComputationGraph net, boolean logStd) {
        int set = 0;
        for (String t : names()) {
            String[] vp = TorchNames.parameter(t).orElseThrow(() -> new IllegalStateException("unmapped torchvision tensor " + t));
            REVERSE.put(vp[0] + "|" + vp[1], t);
            INDArray value = npy("init/" + t + ".npy");
            Layer layer = net.getLayer(vp[0]);
            String p = vp[1];
            if (p.equals("var") && logStd) {
                float[] v = floats(value);
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (0.5 * Math.log10(v[i]));
                }
                value = Nd4j.createFromArray(v);
                p = "log10stdev";
            } else if (p.equals("W") && vp[0].equals("head_output")) {
                value = value.transpose(); // torch Linear [out, in] -> DL4J [in, out]
            }
            INDArray target = layer.getParam(p);
            if (target == null) {
                throw new IllegalStateException("layer " + vp[0] + " has no parameter " + p + " (has " + layer.paramTable().keySet() + ")");
            }
            if (target.length() != value.length()) {
                throw new IllegalStateException(t + ": " + java.util.Arrays.toString(value.shape()) + " vs " + vp[0] + "_" + p
                        + " " + java.util.Arrays.toString(target.shape()));
            }
            target.assign(value.reshape(target.shape()));
            set++;
        }
        long all = 0;
        for (Layer l : net.getLayers()) {
            all += l.paramTable().size();
        }
        if (set != all) {
            throw new IllegalStateException("set " + set + " of the net's " + all + " parameter arrays");
        }
        System.out.printf(Locale.ROOT, "loaded %d tensors (%d values) into %d DL4J parameter arrays%n", set, net.numParams(), all);
    }

    /** A DL4J parameter in torchvision's layout, flattened: dense W transposed, everything else as is. */
    static float[] torchLayout(String param, INDArray a) {
        return floats(param.equals("W") && a.rank() == 2 ? a.transpose() : a);
    }

    private static String layerClasses(ComputationGraph net) {
        Map<String, Integer> counts = new TreeMap<>();
        for (Layer l : net.getLayers()) {
            counts.merge(l.getClass().getSimpleName(), 1, Integer::sum);
        }
        for (var v : net.getVertices()) {
            if (!v.hasLayer()) {
                counts.merge(v.getClass().getSimpleName(), 1, Integer::sum);
            }
        }
        return counts.toString();
    }

    private static INDArray logits(ComputationGraph net, INDArray x, boolean train) {
        Map<String, INDArray> acts = net.feedForward(new INDArray[]{x}, train, false);
        return logits(acts.get("avg_pool"), net);
    }

    /** The output layer's pre-softmax values, from the pooled features (DL4J's output is the softmax). */
    private static INDArray logits(INDArray pooled, ComputationGraph net) {
        Layer out = net.getLayer("head_output");
        return pooled.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).mmul(out.getParam("W").castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE))
                .addiRowVector(out.getParam("b").castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE));
    }

    private void compareLogits(String category, String tensor, INDArray java, INDArray torch, INDArray torch64) {
        compare(category, tensor, floats(java), floats(torch), torch64 == null ? null : floats(torch64));
    }

    private void compare(String category, String tensor, float[] a, float[] b, float[] b64) {
        if (a.length != b.length) {
            throw new IllegalStateException(tensor + ": " + a.length + " vs " + b.length + " values");
        }
        double maxAbs = 0, refMax = 0, floor = 0, d2 = 0, r2 = 0, f2 = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - b[i];
            maxAbs = Math.max(maxAbs, Math.abs(d));
            refMax = Math.max(refMax, Math.abs(b[i]));
            d2 += d * d;
            r2 += (double) b[i] * b[i];
            if (b64 != null) {
                double f = (double) b[i] - b64[i];
                floor = Math.max(floor, Math.abs(f));
                f2 += f * f;
            }
        }
        double nr = Math.sqrt(Math.max(r2, 1e-60));
        record(category, tensor, a.length, maxAbs, refMax, maxAbs / Math.max(refMax, 1e-30), Math.sqrt(d2) / nr,
                b64 == null ? Double.NaN : floor / Math.max(refMax, 1e-30), b64 == null ? Double.NaN : Math.sqrt(f2) / nr);
    }

    /** Compares the change from {@code i0}: (a - i0) against (b - i0) (and (b64 - i0) for the floor). */
    private void compareUpdate(String category, String tensor, float[] a, float[] b, float[] b64, float[] i0) {
        float[] da = new float[a.length];
        float[] db = new float[a.length];
        float[] d64 = b64 == null ? null : new float[a.length];
        for (int i = 0; i < a.length; i++) {
            da[i] = a[i] - i0[i];
            db[i] = b[i] - i0[i];
            if (d64 != null) {
                d64[i] = b64[i] - i0[i];
            }
        }
        compare(category, tensor, da, db, d64);
    }

    private void record(String category, String tensor, long n, double maxAbs, double refMax, double rel, double l2, double floorRel, double floorL2) {
        Row r = new Row(category, tensor, n, maxAbs, refMax, rel, l2, floorRel, floorL2);
        rows.computeIfAbsent(category, k -> new ArrayList<>()).add(r);
        tsv.printf(Locale.ROOT, "%s\t%s\t%d\t%.3e\t%.3e\t%.3e\t%.3e\t%.3e\t%.3e%n", category, tensor, n, maxAbs, refMax, rel, l2, floorRel, floorL2);
    }

    private void printSummary() {
        System.out.println();
        System.out.println("| compared | tensors | max abs err | max rel err (worst tensor) | rel L2 err (worst tensor) | worst tensor | PyTorch f32 vs f64: max rel / rel L2 (worst) |");
        System.out.println("|---|---|---|---|---|---|---|");
        for (Map.Entry<String, List<Row>> e : rows.entrySet()) {
            Row worst = e.getValue().stream().max(java.util.Comparator.comparingDouble(Row::l2)).orElseThrow();
            double maxAbs = e.getValue().stream().mapToDouble(Row::maxAbs).max().orElse(0);
            double rel = e.getValue().stream().mapToDouble(Row::rel).max().orElse(0);
            double floor = e.getValue().stream().mapToDouble(Row::floorRel).filter(d -> !Double.isNaN(d)).max().orElse(Double.NaN);
            double floorL2 = e.getValue().stream().mapToDouble(Row::floorL2).filter(d -> !Double.isNaN(d)).max().orElse(Double.NaN);
            System.out.printf(Locale.ROOT, "| %s | %d | %.1e | %.1e | %.1e | %s | %s |%n", e.getKey(), e.getValue().size(), maxAbs, rel, worst.l2(),
                    worst.tensor().replace("features.", ""), Double.isNaN(floor) ? "" : String.format(Locale.ROOT, "%.1e / %.1e", floor, floorL2));
        }
    }

    private static String category(String vertex) {
        if (vertex.endsWith("_bn") || vertex.endsWith("/bn") || vertex.equals("bn")) {
            return "act batch norm (train mode)";
        }
        if (vertex.endsWith("relu")) {
            return "act relu";
        }
        if (vertex.endsWith("conv")) {
            return "act conv";
        }
        return "act pooling";
    }

    private static String paramKind(String torchName) {
        if (torchName.startsWith("classifier")) {
            return "classifier";
        }
        if (torchName.endsWith("conv0.weight")) {
            return "stem conv 7x7";
        }
        if (torchName.contains("conv2.weight")) {
            return "conv 3x3";
        }
        if (torchName.endsWith("conv1.weight") || torchName.endsWith("conv.weight")) {
            return "conv 1x1";
        }
        return torchName.endsWith("weight") ? "BN gamma" : "BN beta";
    }

    private INDArray npy(String rel) {
        return read(dir.resolve(rel).toFile());
    }

    /** A dump file as an array; a missing or unreadable one is a {@link UserError} naming it. */
    private static INDArray read(File f) {
        if (!f.isFile()) {
            throw new UserError("dump file not found: " + f + " (" + RERUN + ")");
        }
        try {
            return Nd4j.createFromNpyFile(f);
        } catch (RuntimeException e) {
            throw new UserError("dump file " + f + " cannot be read as .npy (" + e.getClass().getSimpleName() + "): " + RERUN, e);
        }
    }

    /** The files of a dump folder, sorted by name; a missing folder is a {@link UserError} naming it. */
    private File[] files(String folder) {
        File[] files = dir.resolve(folder).toFile().listFiles();
        if (files == null) {
            throw new UserError("dump folder not found: " + dir.resolve(folder) + " (" + RERUN + ")");
        }
        java.util.Arrays.sort(files);
        return files;
    }

    /** A field of the case's manifest.json; a missing one is a {@link UserError} (a dump from another version of the script). */
    private JsonNode field(String name) {
        JsonNode v = manifest.get(name);
        if (v == null || v.isNull()) {
            throw new UserError("dump file " + dir.resolve("manifest.json") + " has no '" + name + "': " + RERUN);
        }
        return v;
    }

    static float[] floats(INDArray a) {
        return a.dup('c').castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).data().asFloat();
    }
}
