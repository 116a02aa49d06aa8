package org.xraydl.predict;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.datavec.image.transform.ImageTransform;
import org.xraydl.data.ClassLabels;
import org.xraydl.data.FastImageLoader;
import org.xraydl.data.ImageChecks;
import org.xraydl.data.TestTimeAugmentation;
import org.xraydl.evaluate.Calibration;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.data.ImageFolderScanner;
import org.xraydl.data.ImageNormalizer;
import org.xraydl.data.Preprocessing;
import org.xraydl.model.io.ModelBundle;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Answers per image with the class, its confidence and all class probabilities. The probabilities
 * are the model's after its stored temperature (if any), averaged over the test-time augmentation
 * views with {@code tta}; the class is {@value ClassLabels#POSITIVE} when its probability is
 * {@code >= threshold}, else the other class.
 */
public final class Predictor {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Predictor.class);

    /** One answer: either probabilities or an error (unreadable file), never both. */
    public record Answer(String file, String predictedClass, double confidence, Map<String, Double> probabilities,
                         double threshold, String error) {
        public boolean ok() {
            return error == null;
        }
    }

    private final ComputationGraph net;
    private final Preprocessing pre;
    /** Plain view only, or every TTA view. */
    private final boolean tta;
    private final ImageNormalizer normalizer;
    private final double threshold;
    private final double temperature;

    /** The model's stored decision rule for the plain view (threshold 0.5 and no temperature without one), no TTA. */
    public Predictor(ModelBundle bundle) {
        this(bundle, false, bundle.decision() != null ? bundle.decision().threshold() : MetricsCalculator.DEFAULT_THRESHOLD);
    }

    /** Decides at {@code threshold}; the temperature is the stored one for these probabilities (plain or TTA), if any. */
    public Predictor(ModelBundle bundle, boolean tta, double threshold) {
        this.net = bundle.network();
        this.pre = bundle.preprocessing();
        this.tta = tta;
        this.normalizer = new ImageNormalizer(pre.normalization());
        this.threshold = threshold;
        this.temperature = bundle.temperatureFor(tta);
    }

    public Answer predict(Path file) {
        if (Files.isRegularFile(file) && !ImageFolderScanner.isImageFile(file)) {
            return error(file, "unsupported file type (supported: " + ImageFolderScanner.supportedList() + ")");
        }
        String problem = ImageChecks.problem(file);
        if (problem != null) {
            return error(file, problem);
        }
        int k = pre.labels().size();
        double[] mean = new double[k];
        List<FastImageLoader> views = loaders(tta);
        for (FastImageLoader view : views) {
            INDArray x;
            try {
                x = view.asMatrix(file.toFile());
            } catch (IOException | RuntimeException e) {
                return error(file, "cannot read image: " + e.getMessage());
            }
            INDArray out = net.outputSingle(false, normalizer.normalize(x));
            for (int j = 0; j < k; j++) {
                mean[j] += out.getDouble(0, j) / views.size();
            }
        }
        double[] p = Calibration.scale(mean, temperature);
        Map<String, Double> probs = new LinkedHashMap<>();
        for (int j = 0; j < k; j++) {
            probs.put(pre.labels().get(j), p[j]);
        }
        int pos = pre.labels().indexOf(ClassLabels.POSITIVE);
        int decided;
        if (k == 2 && pos >= 0) {
            decided = p[pos] >= threshold ? pos : 1 - pos;
        } else {
            decided = 0;
            for (int j = 1; j < k; j++) {
                if (p[j] > p[decided]) {
                    decided = j;
                }
            }
        }
        return new Answer(file.toString(), pre.labels().get(decided), p[decided], probs, threshold, null);
    }

    /**
     * Fresh loaders, one per view, for one call. DataVec's loaders and transforms keep per-call state (their frame
     * converters, the last image), and the prediction server calls one Predictor from several worker threads:
     * shared loaders could hand one request's pixels to another. They are cheap to make.
     */
    private List<FastImageLoader> loaders(boolean allViews) {
        List<ImageTransform> transforms = TestTimeAugmentation.views(pre);
        return (allViews ? transforms : transforms.subList(0, 1)).stream()
                .map(t -> new FastImageLoader(pre.imageSize(), pre.imageSize(), pre.channels(), t)).toList();
    }

    private Answer error(Path file, String why) {
        return new Answer(file.toString(), null, Double.NaN, null, threshold, why);
    }

    /** The model's input for one image file (the plain view, no TTA): decoded, resized, centre-cropped, normalised, [1, C, H, W]. */
    public INDArray input(Path file) throws IOException {
        return normalizer.normalize(loaders(false).get(0).asMatrix(file.toFile()));
    }

    /** Files named directly, and images (recursively, sorted) in folders named; other files there are counted in a warning. */
    public static List<Path> expand(List<Path> inputs) {
        List<Path> out = new ArrayList<>();
        for (Path p : inputs) {
            if (Files.isDirectory(p)) {
                List<Path> unsupported = new ArrayList<>();
                try (Stream<Path> s = Files.walk(p)) {
                    for (Path f : s.filter(Files::isRegularFile).sorted().toList()) {
                        if (ImageFolderScanner.isImageFile(f)) {
                            out.add(f);
                        } else if (!f.getFileName().toString().startsWith(".")) {
                            unsupported.add(f);
                        }
                    }
                } catch (IOException e) {
                    out.add(p);
                }
                String left = ImageFolderScanner.unsupportedSummary(unsupported, p);
                if (left != null) {
                    log.warn(left);
                }
            } else {
                out.add(p);
            }
        }
        return out;
    }
}
