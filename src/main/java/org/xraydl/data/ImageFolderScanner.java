package org.xraydl.data;

import org.xraydl.UserError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Finds the class folders under a data folder and checks every image before any training
 * starts: DataVec aborts a whole epoch on the first undecodable file, so bad files are found
 * here, reported by name, and either refused or skipped and counted.
 *
 * <p>Accepted layouts: {@code ROOT/{NORMAL,PNEUMONIA}/*}, the Kaggle tree
 * {@code ROOT[/chest_xray]/{train,test,val}/{NORMAL,PNEUMONIA}/*} (the split is chosen by
 * {@code preferredSplit}), class folders in any letter case.
 */
public final class ImageFolderScanner {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ImageFolderScanner.class);
    public static final Set<String> IMAGE_EXTENSIONS = Set.of("jpg", "jpeg", "png", "bmp");
    private static final Set<String> SPLIT_NAMES = Set.of("train", "test", "val");

    private ImageFolderScanner() {
    }

    public static ImageFolder scan(Path dir, String preferredSplit, boolean skipBad, int maxPerClass) {
        if (dir == null || !Files.exists(dir)) {
            throw new UserError("data folder not found: " + dir
                    + " (pass --data DIR, a folder with NORMAL/ and PNEUMONIA/ subfolders)");
        }
        if (!Files.isDirectory(dir)) {
            throw new UserError("data path is not a folder: " + dir
                    + " (pass --data DIR, a folder with NORMAL/ and PNEUMONIA/ subfolders)");
        }
        Path root = resolveRoot(dir.toAbsolutePath().normalize(), preferredSplit);
        Map<String, List<Path>> byLabel = new HashMap<>();
        List<Path> unsupported = new ArrayList<>();
        for (Path classDir : subfolders(root)) {
            unsupported.addAll(unsupportedFiles(classDir));
            List<Path> files = imageFiles(classDir);
            if (!files.isEmpty()) {
                byLabel.computeIfAbsent(ClassLabels.ofFolder(classDir.getFileName().toString()),
                        k -> new ArrayList<>()).addAll(files);
            }
        }
        if (byLabel.isEmpty()) {
            throw new UserError("no images found under " + root
                    + " (expected class subfolders such as NORMAL/ and PNEUMONIA/ holding .jpeg/.png files)");
        }
        if (byLabel.size() < 2) {
            throw new UserError("only one class (" + byLabel.keySet().iterator().next() + ") found in " + root
                    + ": a classifier needs at least two class subfolders, e.g. NORMAL/ and PNEUMONIA/");
        }
        List<String> labels = ClassLabels.ordered(byLabel.keySet());
        List<LabeledImage> images = new ArrayList<>();
        List<Path> bad = new ArrayList<>();
        String firstProblem = null;
        for (String label : labels) {
            List<Path> files = byLabel.get(label);
            files.sort(Comparator.comparing(Path::toString));
            int taken = 0;
            for (Path f : files) {
                if (maxPerClass > 0 && taken >= maxPerClass) {
                    break;
                }
                String problem = ImageChecks.problem(f);
                if (problem != null) {
                    firstProblem = firstProblem == null ? problem : firstProblem;
                    bad.add(f);
                    continue;
                }
                images.add(new LabeledImage(f, label, PatientIds.of(f.getFileName().toString())));
                taken++;
            }
        }
        if (!bad.isEmpty() && !skipBad) {
            throw ImageChecks.unusable(bad.get(0), firstProblem, bad.size() - 1);
        }
        String left = unsupportedSummary(unsupported, root);
        if (left != null) {
            log.warn(left);
        }
        return new ImageFolder(root, List.copyOf(labels), List.copyOf(images), List.copyOf(bad), List.copyOf(unsupported));
    }

    /** True when the file can be used: readable, complete, and decodable by OpenCV (the decoder DataVec uses). */
    public static boolean isDecodable(Path f) {
        return ImageChecks.problem(f) == null;
    }

    /** True for a visible file with a supported extension ({@link #IMAGE_EXTENSIONS}, the one list train, evaluate and predict use). */
    public static boolean isImageFile(Path p) {
        return !p.getFileName().toString().startsWith(".") && IMAGE_EXTENSIONS.contains(ImageChecks.extension(p));
    }

    /** The supported extensions for messages: ".bmp/.jpeg/.jpg/.png". */
    public static String supportedList() {
        return new TreeSet<>(IMAGE_EXTENSIONS).stream().map(e -> "." + e).collect(java.util.stream.Collectors.joining("/"));
    }

    /**
     * One line about visible files that were left out for their extension, e.g. "3 files with an
     * unsupported extension (.gif: 2, .tif: 1) were left out under DIR; supported: ...", or null if none.
     */
    public static String unsupportedSummary(List<Path> unsupported, Path where) {
        if (unsupported.isEmpty()) {
            return null;
        }
        Map<String, Integer> byExt = new java.util.TreeMap<>();
        for (Path p : unsupported) {
            String ext = ImageChecks.extension(p);
            byExt.merge(ext.isEmpty() ? "(none)" : "." + ext, 1, Integer::sum);
        }
        StringBuilder s = new StringBuilder();
        byExt.forEach((k, v) -> s.append(s.length() == 0 ? "" : ", ").append(k).append(": ").append(v));
        return unsupported.size() + " file(s) with an unsupported extension (" + s + ") left out under " + where
                + "; supported: " + supportedList();
    }

    /** Visible regular files in {@code dir} that are not images by extension. */
    static List<Path> unsupportedFiles(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith("."))
                    .filter(p -> !isImageFile(p)).sorted().toList();
        } catch (IOException e) {
            throw new UserError("cannot list folder " + dir + ": " + e.getMessage());
        }
    }

    private static Path resolveRoot(Path dir, String preferredSplit) {
        Path current = dir;
        // Kaggle archives unpack to chest_xray/ (sometimes chest_xray/chest_xray/).
        for (int i = 0; i < 2; i++) {
            Path kaggle = childIgnoringCase(current, "chest_xray");
            if (kaggle != null && !hasClassFolders(current)) {
                current = kaggle;
            }
        }
        if (!hasClassFolders(current)) {
            Path split = preferredSplit == null ? null : childIgnoringCase(current, preferredSplit);
            if (split != null) {
                return split;
            }
            for (Path sub : subfolders(current)) {
                if (SPLIT_NAMES.contains(sub.getFileName().toString().toLowerCase(Locale.ROOT))) {
                    throw new UserError("data folder " + dir + " has split folders but no '" + preferredSplit
                            + "' split: pass the split folder itself, e.g. --data " + sub);
                }
            }
        }
        return current;
    }

    private static boolean hasClassFolders(Path dir) {
        for (Path sub : subfolders(dir)) {
            String name = sub.getFileName().toString().toLowerCase(Locale.ROOT);
            if (!SPLIT_NAMES.contains(name) && !name.equals("chest_xray") && !imageFiles(sub).isEmpty()) {
                return true;
            }
        }
        return false;
    }

    private static Path childIgnoringCase(Path dir, String name) {
        for (Path sub : subfolders(dir)) {
            if (sub.getFileName().toString().equalsIgnoreCase(name)) {
                return sub;
            }
        }
        return null;
    }

    private static List<Path> subfolders(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isDirectory)
                    .filter(p -> !p.getFileName().toString().startsWith(".") && !p.getFileName().toString().startsWith("__"))
                    .sorted().toList();
        } catch (IOException e) {
            throw new UserError("cannot list folder " + dir + ": " + e.getMessage());
        }
    }

    private static List<Path> imageFiles(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return new ArrayList<>(s.filter(Files::isRegularFile).filter(ImageFolderScanner::isImageFile).toList());
        } catch (IOException e) {
            throw new UserError("cannot list folder " + dir + ": " + e.getMessage());
        }
    }
}
