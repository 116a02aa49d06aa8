package org.xraydl.diagnose;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.data.AugmentationTransform;
import org.xraydl.data.FastImageLoader;
import org.xraydl.data.ImageBatchIterator;
import org.xraydl.data.ImageIterators;
import org.xraydl.data.ImageRandom;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.Preprocessing;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Image path check, Java side: what this project's data path hands the network for a list of real files, written
 * as .npy for {@code tools/image_path_compare.py} (PIL / torchvision on the same files). Everything goes through the
 * project's own classes, so the dump is what training and validation see:
 * <ul>
 *   <li>{@code decode.npy} [N, 3, H, W]: the raw decoded levels (a {@link FastImageLoader} without transform or
 *       normaliser: DataVec's imdecode, its grey-to-BGR conversion, the bulk copy), H x W the files' own size;</li>
 *   <li>{@code eval.npy} [N, 3, S, S]: {@link ImageIterators#evaluation} (resize + centre crop + ImageNet
 *       normalisation in BGR plane order), exactly validation's tensors;</li>
 *   <li>{@code aug.npy} [N*K, 3, S, S]: K training views per file, {@link AugmentationTransform} with the image's own
 *       Random ({@link ImageRandom#forImage}: epoch seed, position) as training makes them (position = k*N + i), plus
 *       {@code aug_angles.txt}: the rotation angle of each view, read back from DataVec's rotation matrix;</li>
 *   <li>{@code files.txt}: the files, in the order of the rows.</li>
 * </ul>
 * <pre>
 * java ... org.xraydl.diagnose.ImagePathDump [--data ../shared/datasets/chest-xray/train] [--per-class 150]
 *     [--size 96] [--resize-ratio 1.14] [--aug 10] [--rotation 10] [--crop-min 0.7] [--seed 7] [--resampling opencv]
 *     [--out target/imgpath]
 * </pre>
 */
public final class ImagePathDump {
    private static final List<String> LABELS = List.of("NORMAL", "PNEUMONIA");

    private ImagePathDump() {
    }

    public static void main(String[] args) throws IOException {
        Path data = Path.of("../shared/datasets/chest-xray/train");
        Path out = Path.of("target/imgpath");
        int perClass = 150;
        int size = 96;
        double resizeRatio = 1.14;
        int aug = 10;
        double rotation = 10;
        double cropMin = 0.7;
        long seed = 7;
        String resampling = "opencv";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--data" -> data = Path.of(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--per-class" -> perClass = Integer.parseInt(args[++i]);
                case "--size" -> size = Integer.parseInt(args[++i]);
                case "--resize-ratio" -> resizeRatio = Double.parseDouble(args[++i]);
                case "--aug" -> aug = Integer.parseInt(args[++i]);
                case "--rotation" -> rotation = Double.parseDouble(args[++i]);
                case "--crop-min" -> cropMin = Double.parseDouble(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--resampling" -> resampling = args[++i];
                default -> throw new IllegalArgumentException("usage: [--data DIR] [--out DIR] [--per-class N] [--size S] "
                        + "[--resize-ratio R] [--aug K] [--rotation DEG] [--crop-min F] [--seed N] [--resampling opencv|antialias]");
            }
        }
        Files.createDirectories(out);
        List<LabeledImage> images = sample(data, perClass);
        Preprocessing p = new Preprocessing(LABELS, size, 3, resizeRatio, "imagenet", resampling);
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("files.txt")))) {
            images.forEach(im -> w.println(im.file().toAbsolutePath()));
        }
        Nd4j.writeAsNumpy(decode(images), out.resolve("decode.npy").toFile());
        Nd4j.writeAsNumpy(evaluation(images, p), out.resolve("eval.npy").toFile());
        double[] angles = new double[images.size() * aug];
        Nd4j.writeAsNumpy(augmented(images, p, aug, rotation, cropMin, seed, angles), out.resolve("aug.npy").toFile());
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("aug_angles.txt")))) {
            for (double a : angles) {
                w.println(String.format(Locale.ROOT, "%.6f", a));
            }
        }
        System.out.printf(Locale.ROOT, "%d files, %d augmented views (seed %d) -> %s%n", images.size(), angles.length, seed, out);
        System.exit(0);
    }

    /** Every k-th file (sorted by name) of each class folder, {@code perClass} per class at most. */
    static List<LabeledImage> sample(Path data, int perClass) throws IOException {
        List<LabeledImage> out = new ArrayList<>();
        for (String label : LABELS) {
            List<Path> files;
            try (var s = Files.list(data.resolve(label))) {
                files = s.filter(f -> !f.getFileName().toString().startsWith(".")).sorted().toList();
            }
            int step = Math.max(1, files.size() / Math.max(1, perClass));
            for (int i = 0; i < files.size() && out.stream().filter(x -> x.label().equals(label)).count() < perClass; i += step) {
                out.add(new LabeledImage(files.get(i), label, files.get(i).getFileName().toString()));
            }
        }
        return out;
    }

    /** The raw decoded levels of each file at its own size, 3 planes in DataVec's BGR order, no transform. */
    static INDArray decode(List<LabeledImage> images) throws IOException {
        List<INDArray> rows = new ArrayList<>();
        for (LabeledImage im : images) {
            INDArray probe = new FastImageLoader().asMatrix(im.file().toFile()); // [1, C, H, W] as decoded
            rows.add(new FastImageLoader(probe.size(2), probe.size(3), 3).asMatrix(im.file().toFile()));
        }
        return Nd4j.concat(0, rows.toArray(new INDArray[0]));
    }

    /** Validation's tensors: {@link ImageIterators#evaluation}, file order kept. */
    static INDArray evaluation(List<LabeledImage> images, Preprocessing p) {
        return all(ImageIterators.evaluation(images, p, 32));
    }

    /**
     * {@code k} training views of every file, made as {@link ImageIterators#training} makes them (an
     * {@link AugmentationTransform} per image with {@link ImageRandom#forImage}{@code (seed, position)}), in the
     * order view 0 of every file, then view 1, ...; {@code angles} receives each view's rotation angle.
     */
    static INDArray augmented(List<LabeledImage> images, Preprocessing p, int k, double rotation, double cropMin, long seed,
                              double[] angles) {
        List<URI> uris = new ArrayList<>();
        for (int v = 0; v < k; v++) {
            uris.addAll(ImageIterators.uris(images));
        }
        AugmentationTransform[] made = new AugmentationTransform[uris.size()];
        ImageBatchIterator it = new ImageBatchIterator(uris, null, (pass, position) -> made[position] =
                new AugmentationTransform(ImageRandom.forImage(ImageRandom.passSeed(seed, pass), position), p.imageSize(),
                        rotation, cropMin, false, p.filter()), p, 32, false, null);
        INDArray x = all(it);
        for (int i = 0; i < made.length; i++) {
            angles[i] = made[i].lastRotationDegrees().orElse(0);
        }
        return x;
    }

    private static INDArray all(DataSetIterator it) {
        List<INDArray> batches = new ArrayList<>();
        while (it.hasNext()) {
            batches.add(it.next().getFeatures().dup());
        }
        return Nd4j.concat(0, batches.toArray(new INDArray[0]));
    }
}
