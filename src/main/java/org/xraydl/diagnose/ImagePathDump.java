package org.xraydl.diagnose;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;
import org.xraydl.cli.Main;
import org.xraydl.data.AugmentationTransform;
import org.xraydl.data.FastImageLoader;
import org.xraydl.data.ImageBatchIterator;
import org.xraydl.data.ImageIterators;
import org.xraydl.data.ImageRandom;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.Preprocessing;
import org.xraydl.data.Resampling;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

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
 * A bad argument or a missing folder is one line on stderr and exit status 2, as in the CLI ({@link Main#commandLine}).
 */
@Command(name = "ImagePathDump", sortOptions = false, usageHelpAutoWidth = true,
        description = "Writes what the project's image path feeds the network for real files, as .npy for tools/image_path_compare.py.")
public final class ImagePathDump implements Callable<Integer> {
    private static final List<String> LABELS = List.of("NORMAL", "PNEUMONIA");

    @Option(names = "--data", paramLabel = "DIR", defaultValue = "../shared/datasets/chest-xray/train",
            description = "Folder with NORMAL/ and PNEUMONIA/ subfolders (default: ${DEFAULT-VALUE})")
    Path data;
    @Option(names = "--out", paramLabel = "DIR", defaultValue = "target/imgpath", description = "Output folder (default: ${DEFAULT-VALUE})")
    Path out;
    @Option(names = "--per-class", paramLabel = "N", defaultValue = "150", description = "Files per class at most (default: ${DEFAULT-VALUE})")
    int perClass;
    @Option(names = "--size", paramLabel = "S", defaultValue = "96", description = "Image size in pixels (default: ${DEFAULT-VALUE})")
    int size;
    @Option(names = "--resize-ratio", paramLabel = "R", defaultValue = "1.14", description = "Resize to S x R before the crop (default: ${DEFAULT-VALUE})")
    double resizeRatio;
    @Option(names = "--aug", paramLabel = "K", defaultValue = "10", description = "Augmented views per file (default: ${DEFAULT-VALUE})")
    int aug;
    @Option(names = "--rotation", paramLabel = "DEG", defaultValue = "10", description = "Maximum rotation in degrees (default: ${DEFAULT-VALUE})")
    double rotation;
    @Option(names = "--crop-min", paramLabel = "F", defaultValue = "0.7", description = "Smallest crop fraction (default: ${DEFAULT-VALUE})")
    double cropMin;
    @Option(names = "--seed", paramLabel = "N", defaultValue = "7", description = "Epoch seed of the augmentation (default: ${DEFAULT-VALUE})")
    long seed;
    @Option(names = "--resampling", paramLabel = "R", defaultValue = "opencv",
            description = "Resize filter: opencv or antialias, as the config key resampling (default: ${DEFAULT-VALUE})")
    String resampling;
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit")
    boolean help;

    private ImagePathDump() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /**
     * Parses {@code args} and writes the dump; returns the exit status (0, 2 for a bad argument or a missing folder,
     * one line on stderr) and never calls System.exit (tests use this).
     */
    public static int run(String... args) {
        return Main.commandLine(new ImagePathDump()).execute(args);
    }

    @Override
    public Integer call() throws IOException {
        positive("--per-class", perClass);
        positive("--size", size);
        positive("--aug", aug);
        if (!(resizeRatio >= 1)) {
            throw new UserError("--resize-ratio must be >= 1 (as the config's resizeRatio), got " + resizeRatio);
        }
        if (!Resampling.NAMES.contains(resampling)) {
            throw new UserError("--resampling must be " + String.join(" or ", Resampling.NAMES) + ", got " + resampling);
        }
        if (!(cropMin > 0 && cropMin <= 1)) {
            throw new UserError("--crop-min must be in (0, 1] (as the config's cropScaleMin), got " + cropMin);
        }
        List<LabeledImage> images = sample(data, perClass);
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new UserError("cannot create the output folder " + out + " (" + e.getClass().getSimpleName() + "): pass another --out");
        }
        if (!Files.isWritable(out)) {
            throw new UserError("the output folder " + out + " is not writable: pass another --out");
        }
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
        return 0;
    }

    private static void positive(String option, int value) {
        if (value < 1) {
            throw new UserError(option + " must be >= 1, got " + value);
        }
    }

    /** Every k-th file (sorted by name) of each class folder, {@code perClass} per class at most. */
    static List<LabeledImage> sample(Path data, int perClass) throws IOException {
        List<LabeledImage> out = new ArrayList<>();
        if (!Files.isDirectory(data)) {
            throw new UserError("data folder not found: " + data + " (pass --data a folder with " + String.join("/ and ", LABELS) + "/ subfolders)");
        }
        for (String label : LABELS) {
            Path folder = data.resolve(label);
            if (!Files.isDirectory(folder)) {
                throw new UserError("data folder " + data + " has no " + label + "/ subfolder (pass --data a folder with "
                        + String.join("/ and ", LABELS) + "/ subfolders)");
            }
            List<Path> files;
            try (var s = Files.list(folder)) {
                files = s.filter(f -> !f.getFileName().toString().startsWith(".")).sorted().toList();
            }
            int step = Math.max(1, files.size() / Math.max(1, perClass));
            for (int i = 0; i < files.size() && out.stream().filter(x -> x.label().equals(label)).count() < perClass; i += step) {
                out.add(new LabeledImage(files.get(i), label, files.get(i).getFileName().toString()));
            }
        }
        if (out.isEmpty()) {
            throw new UserError("data folder " + data + " holds no files in " + String.join("/ or ", LABELS) + "/ (pass --data a folder with images)");
        }
        return out;
    }

    /**
     * The raw decoded levels of each file at its own size, 3 planes in DataVec's BGR order, no transform; the files
     * must share one size (one array holds them all).
     */
    static INDArray decode(List<LabeledImage> images) throws IOException {
        List<INDArray> rows = new ArrayList<>();
        for (LabeledImage im : images) {
            INDArray probe = new FastImageLoader().asMatrix(im.file().toFile()); // [1, C, H, W] as decoded
            if (!rows.isEmpty() && (probe.size(2) != rows.get(0).size(2) || probe.size(3) != rows.get(0).size(3))) {
                throw new UserError("decode.npy holds every file at its own size, so they must share one: " + im.file() + " is "
                        + probe.size(3) + "x" + probe.size(2) + ", " + images.get(0).file() + " " + rows.get(0).size(3) + "x"
                        + rows.get(0).size(2) + " (pass --data a folder of same-size images)");
            }
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
