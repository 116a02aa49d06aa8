package org.xraydl.predict;

import org.datavec.image.loader.NativeImageLoader;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.data.CenterCropTransform;
import org.xraydl.data.ImageChecks;
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

/** Answers per image with the class, its confidence and all class probabilities. */
public final class Predictor {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Predictor.class);

    /** One answer: either probabilities or an error (unreadable file), never both. */
    public record Answer(String file, String predictedClass, double confidence, Map<String, Double> probabilities, String error) {
        public boolean ok() {
            return error == null;
        }
    }

    private final ComputationGraph net;
    private final Preprocessing pre;
    private final NativeImageLoader loader;
    private final ImageNormalizer normalizer;

    public Predictor(ModelBundle bundle) {
        this.net = bundle.network();
        this.pre = bundle.preprocessing();
        this.loader = new NativeImageLoader(pre.imageSize(), pre.imageSize(), pre.channels(),
                new CenterCropTransform(pre.resizeTo(), pre.imageSize()));
        this.normalizer = new ImageNormalizer(pre.normalization());
    }

    public Answer predict(Path file) {
        if (Files.isRegularFile(file) && !ImageFolderScanner.isImageFile(file)) {
            return new Answer(file.toString(), null, Double.NaN, null,
                    "unsupported file type (supported: " + ImageFolderScanner.supportedList() + ")");
        }
        String problem = ImageChecks.problem(file);
        if (problem != null) {
            return new Answer(file.toString(), null, Double.NaN, null, problem);
        }
        INDArray x;
        try {
            x = loader.asMatrix(file.toFile());
        } catch (IOException | RuntimeException e) {
            return new Answer(file.toString(), null, Double.NaN, null, "cannot read image: " + e.getMessage());
        }
        INDArray out = net.outputSingle(false, normalizer.normalize(x));
        Map<String, Double> probs = new LinkedHashMap<>();
        int best = 0;
        for (int k = 0; k < pre.labels().size(); k++) {
            probs.put(pre.labels().get(k), out.getDouble(0, k));
            if (out.getDouble(0, k) > out.getDouble(0, best)) {
                best = k;
            }
        }
        return new Answer(file.toString(), pre.labels().get(best), out.getDouble(0, best), probs, null);
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
