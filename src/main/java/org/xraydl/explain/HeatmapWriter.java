package org.xraydl.explain;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.UserError;
import org.xraydl.evaluate.Predictions;
import org.xraydl.model.io.ModelBundle;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Writes Grad-CAM overlays of a model's decisions as PNG files into one folder, each the size of
 * the original image (the map covers the centre crop the model saw). One file name per image,
 * never overwriting another image's overlay from the same call.
 */
public final class HeatmapWriter {
    private final OverlayRenderer overlays;
    private final Path dir;
    private final Set<String> used = new HashSet<>();

    public HeatmapWriter(ModelBundle bundle, String camLayer, Path dir) {
        this.overlays = new OverlayRenderer(bundle, camLayer);
        this.dir = dir;
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UserError("cannot create the heatmap folder " + dir + " (" + e.getMessage() + "): pass another --heatmaps DIR");
        }
    }

    /** The overlay of {@code classIndex} (-1: the predicted class) for {@code image}, whose model input is {@code input}. */
    public Path write(Path image, INDArray input, int classIndex, String name) {
        Path target = dir.resolve(unique(name));
        Overlay.writePng(overlays.render(image, input, classIndex), target);
        return target;
    }

    /** {@code <stem>.png}, or {@code <stem>-2.png}... when another image of this call had that stem. */
    public static String stemName(Path image) {
        String f = image.getFileName().toString();
        int dot = f.lastIndexOf('.');
        return (dot > 0 ? f.substring(0, dot) : f) + ".png";
    }

    /** For a misclassified image: rank (1 = most confident), true and predicted class, confidence, stem. */
    public static String misclassifiedName(int rank, String trueClass, String predicted, double confidence, Path image) {
        return String.format(Locale.ROOT, "%03d_true-%s_pred-%s_%.3f_%s", rank, trueClass, predicted, confidence, stemName(image));
    }

    /** Indices of the misclassified images, the most confident (wrong) prediction first, file name on ties. */
    public static List<Integer> misclassifiedByConfidence(Predictions p) {
        List<Integer> wrong = new ArrayList<>();
        for (int i = 0; i < p.size(); i++) {
            if (p.predictedClass(i) != p.trueClass()[i]) {
                wrong.add(i);
            }
        }
        wrong.sort(Comparator.<Integer>comparingDouble(i -> -p.probabilities()[i][p.predictedClass(i)])
                .thenComparing(i -> p.files().get(i)));
        return wrong;
    }

    private String unique(String name) {
        String candidate = name;
        int dot = name.lastIndexOf('.');
        for (int k = 2; !used.add(candidate); k++) {
            candidate = name.substring(0, dot) + "-" + k + name.substring(dot);
        }
        return candidate;
    }
}
