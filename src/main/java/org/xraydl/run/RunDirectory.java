package org.xraydl.run;

import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.LabeledImage;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.Predictions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * One folder per training run: config snapshot, labels, the patient split, history.csv,
 * metrics.json, validation predictions, models and charts. Text files are written to a temp
 * file and renamed.
 */
public final class RunDirectory implements AutoCloseable {
    public static final String CONFIG = "config.yaml";
    public static final String LABELS = "labels.txt";
    public static final String SPLIT = "split.csv";
    public static final String HISTORY = "history.csv";
    public static final String METRICS = "metrics.json";
    public static final String PREDICTIONS = "val_predictions.csv";
    public static final String BEST = "best.zip";
    public static final String LAST = "last.zip";
    public static final String PROVENANCE = "provenance.json";

    private final Path dir;
    private final RunLock lock;

    private RunDirectory(Path dir, RunLock lock) {
        this.dir = dir;
        this.lock = lock;
    }

    /**
     * Creates and locks {@code out} if given (it must be new or empty), else a new runs/<name>
     * (runs/<name>-2, -3... when taken). The lock ({@link RunLock}) is held until {@link #close()}.
     */
    public static RunDirectory create(RunConfig c) {
        if (c.out() != null && !c.out().isBlank()) {
            Path dir = Path.of(c.out());
            try {
                Files.createDirectories(dir);
            } catch (IOException e) {
                throw new UserError("cannot create run folder " + dir + ": " + e.getMessage());
            }
            RunLock lock = RunLock.acquire(dir);
            String refusal = Files.exists(dir.resolve(HISTORY))
                    ? "output folder " + dir + " already holds a run: pass another --out, or --resume " + dir.resolve(LAST) + " to continue it"
                    : "output folder " + dir + " is not empty: pass a new or empty folder as --out";
            if (!isEmptyButLock(dir)) {
                lock.close();
                throw new UserError(refusal);
            }
            return new RunDirectory(dir, lock);
        }
        try {
            Files.createDirectories(Path.of("runs"));
            for (int i = 1; ; i++) {
                Path dir = Path.of("runs", i == 1 ? c.name() : c.name() + "-" + i);
                try {
                    // createDirectory is atomic: two runs started at once never pick the same folder.
                    Files.createDirectory(dir);
                    return new RunDirectory(dir, RunLock.acquire(dir));
                } catch (FileAlreadyExistsException taken) {
                    // next suffix
                }
            }
        } catch (IOException e) {
            throw new UserError("cannot create run folder under runs/: " + e.getMessage());
        }
    }

    /** Locks the folder of an existing run to continue it (--resume); released by {@link #close()}. */
    public static RunDirectory resume(Path dir) {
        RunDirectory d = existing(dir);
        return new RunDirectory(d.dir, RunLock.acquire(d.dir));
    }

    /** An existing run folder to read or annotate; not locked. */
    public static RunDirectory existing(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new UserError("run folder not found: " + dir);
        }
        return new RunDirectory(dir, null);
    }

    private static boolean isEmptyButLock(Path dir) {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.allMatch(RunLock::isLockFile);
        } catch (IOException e) {
            throw new UserError("cannot list run folder " + dir + ": " + e.getMessage());
        }
    }

    /** Releases the run folder's lock, if this training holds it. */
    @Override
    public void close() {
        if (lock != null) {
            lock.close();
        }
    }

    public Path path() {
        return dir;
    }

    public Path resolve(String name) {
        return dir.resolve(name);
    }

    public void writeConfig(RunConfig c) {
        write(CONFIG, ConfigLoader.toYaml(c));
    }

    public void writeLabels(List<String> labels) {
        write(LABELS, String.join("\n", labels) + "\n");
    }

    public void writeSplit(List<LabeledImage> train, List<LabeledImage> val, List<Path> skipped) {
        StringBuilder sb = new StringBuilder("file,label,patient,side\n");
        for (LabeledImage i : train) {
            sb.append(csvRow(i, "train"));
        }
        for (LabeledImage i : val) {
            sb.append(csvRow(i, "validation"));
        }
        for (Path p : skipped) {
            sb.append(quote(p.toString())).append(",,,skipped-unreadable\n");
        }
        write(SPLIT, sb.toString());
    }

    /**
     * The train/validation partition of a split.csv written by {@link #writeSplit}, to train or
     * benchmark on exactly the images of an earlier run (or of the PyTorch peer given the same file).
     */
    public static org.xraydl.data.PatientSplit.Split readSplit(Path csv) {
        if (!Files.isRegularFile(csv)) {
            throw new UserError("split file not found: " + csv + " (pass a run's split.csv, e.g. runs/NAME/split.csv)");
        }
        List<LabeledImage> train = new ArrayList<>();
        List<LabeledImage> val = new ArrayList<>();
        try (com.fasterxml.jackson.databind.MappingIterator<List<String>> it = csvRows(csv)) {
            List<String> header = it.hasNext() ? it.next() : List.of();
            if (!header.equals(List.of("file", "label", "patient", "side"))) {
                throw new UserError(csv + ": header is '" + String.join(",", header) + "', expected file,label,patient,side");
            }
            for (int line = 2; it.hasNext(); line++) {
                List<String> f = it.next();
                if (f.size() == 1 && f.get(0).isBlank()) {
                    continue;
                }
                if (f.size() != 4) {
                    throw new UserError(csv + " line " + line + ": " + f.size() + " columns, expected file,label,patient,side");
                }
                String side = f.get(3);
                if (side.equals("skipped-unreadable")) {
                    continue;
                }
                Path file = Path.of(f.get(0));
                if (!Files.isRegularFile(file)) {
                    throw new UserError(csv + " line " + line + ": image " + file + " not found (paths are as the run saw them:"
                            + " run from the same working directory)");
                }
                LabeledImage image = new LabeledImage(file, f.get(1).toUpperCase(Locale.ROOT), f.get(2));
                switch (side) {
                    case "train" -> train.add(image);
                    case "validation" -> val.add(image);
                    default -> throw new UserError(csv + " line " + line + ": side '" + side + "', expected train or validation");
                }
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof UserError u) {
                throw u;
            }
            throw new UserError("cannot read " + csv + ": " + String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
        }
        if (train.isEmpty() || val.isEmpty()) {
            throw new UserError(csv + " has " + train.size() + " train and " + val.size() + " validation images: both sides must be non-empty");
        }
        return new org.xraydl.data.PatientSplit.Split(List.copyOf(train), List.copyOf(val));
    }

    /**
     * The files a run skipped as unreadable (--skip-bad), as its split.csv recorded them: a resumed run
     * reports the run's count, not the zero of a run that never scanned its folder again.
     */
    public static List<Path> readSkipped(Path csv) {
        List<Path> skipped = new ArrayList<>();
        try (com.fasterxml.jackson.databind.MappingIterator<List<String>> it = csvRows(csv)) {
            while (it.hasNext()) {
                List<String> f = it.next();
                if (f.size() == 4 && f.get(3).equals("skipped-unreadable")) {
                    skipped.add(Path.of(f.get(0)));
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new UserError("cannot read " + csv + ": " + String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
        }
        return List.copyOf(skipped);
    }

    private static com.fasterxml.jackson.databind.MappingIterator<List<String>> csvRows(Path csv) throws IOException {
        com.fasterxml.jackson.dataformat.csv.CsvMapper mapper = new com.fasterxml.jackson.dataformat.csv.CsvMapper();
        mapper.enable(com.fasterxml.jackson.dataformat.csv.CsvParser.Feature.WRAP_AS_ARRAY);
        return mapper.readerFor(new com.fasterxml.jackson.core.type.TypeReference<List<String>>() { }).readValues(csv.toFile());
    }

    private static String csvRow(LabeledImage i, String side) {
        return quote(i.file().toString()) + "," + i.label() + "," + i.patientId() + "," + side + "\n";
    }

    private static String quote(String s) {
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    public void startHistory() {
        if (!Files.exists(resolve(HISTORY))) {
            write(HISTORY, EpochRecord.HEADER + "\n");
        }
    }

    /** Replaces history.csv as a whole (atomically), e.g. when resume drops rows beyond last.zip. */
    public void writeHistory(List<EpochRecord> records) {
        StringBuilder sb = new StringBuilder(EpochRecord.HEADER).append('\n');
        for (EpochRecord r : records) {
            sb.append(r.csv()).append('\n');
        }
        write(HISTORY, sb.toString());
    }

    public void appendHistory(EpochRecord r) {
        try {
            Files.writeString(resolve(HISTORY), r.csv() + "\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UserError("cannot append to " + resolve(HISTORY) + ": " + e.getMessage());
        }
    }

    /** Appends {@code row} to the CSV file {@code name}, writing {@code header} first if the file is new. */
    public void appendCsvRow(String name, String header, String row) {
        try {
            if (!Files.exists(resolve(name))) {
                write(name, header + "\n");
            }
            Files.writeString(resolve(name), row + "\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UserError("cannot append to " + resolve(name) + ": " + e.getMessage());
        }
    }

    public List<EpochRecord> readHistory() {
        return readHistory(resolve(HISTORY));
    }

    public static List<EpochRecord> readHistory(Path file) {
        try {
            List<String> lines = Files.readAllLines(file);
            List<EpochRecord> out = new ArrayList<>();
            for (String l : lines.subList(1, lines.size())) {
                if (!l.isBlank()) {
                    out.add(EpochRecord.parse(l));
                }
            }
            return out;
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        }
    }

    public void writeMetrics(Metrics m, Map<String, Object> extra) {
        write(METRICS, JsonReports.metricsJson(m, extra));
    }

    public void writePredictions(Predictions p) {
        write(PREDICTIONS, predictionsCsv(p));
    }

    public static String predictionsCsv(Predictions p) {
        StringBuilder sb = new StringBuilder("file,true,predicted");
        for (String l : p.labels()) {
            sb.append(",p_").append(l);
        }
        sb.append('\n');
        for (int i = 0; i < p.size(); i++) {
            sb.append(quote(p.files().get(i))).append(',').append(p.labels().get(p.trueClass()[i])).append(',')
                    .append(p.labels().get(p.predictedClass(i)));
            for (double v : p.probabilities()[i]) {
                sb.append(',').append(v); // full precision (shortest round-trip form): charts redrawn from it match metrics.json
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** Reads a val_predictions.csv written by {@link #predictionsCsv} back (Jackson's CSV parser, quoted fields). */
    public static Predictions readPredictions(Path csv) {
        if (!Files.isRegularFile(csv)) {
            throw new UserError("no validation predictions: " + csv + " is missing (the run has not finished an epoch?)");
        }
        List<List<String>> rows = readCsv(csv);
        if (rows.isEmpty()) {
            throw new UserError(csv + " is empty: expected a header file,true,predicted,p_<label>...");
        }
        List<String> header = rows.get(0);
        if (header.size() < 4 || !header.get(1).equals("true")) {
            throw new UserError(csv + ": header is '" + String.join(",", header) + "', expected file,true,predicted,p_<label>...");
        }
        List<String> labels = new ArrayList<>();
        for (int i = 3; i < header.size(); i++) {
            if (!header.get(i).startsWith("p_")) {
                throw new UserError(csv + ": column " + (i + 1) + " is '" + header.get(i) + "', expected p_<label>");
            }
            labels.add(header.get(i).substring(2));
        }
        List<String> files = new ArrayList<>();
        int[] truth = new int[rows.size() - 1];
        double[][] probs = new double[rows.size() - 1][];
        for (int r = 1; r < rows.size(); r++) {
            List<String> f = rows.get(r);
            if (f.size() != header.size()) {
                throw new UserError(csv + " line " + (r + 1) + ": " + f.size() + " columns, the header has " + header.size());
            }
            truth[r - 1] = labels.indexOf(f.get(1));
            if (truth[r - 1] < 0) {
                throw new UserError(csv + " line " + (r + 1) + ": true class '" + f.get(1) + "' is not one of " + labels);
            }
            probs[r - 1] = new double[labels.size()];
            for (int k = 0; k < labels.size(); k++) {
                probs[r - 1][k] = Double.parseDouble(f.get(3 + k));
            }
            files.add(f.get(0));
        }
        return new Predictions(List.copyOf(labels), List.copyOf(files), truth, probs);
    }

    /** All rows of a CSV file written by this class (Jackson's CSV parser, quoted fields), blank lines left out. */
    private static List<List<String>> readCsv(Path csv) {
        List<List<String>> rows = new ArrayList<>();
        com.fasterxml.jackson.dataformat.csv.CsvMapper mapper = new com.fasterxml.jackson.dataformat.csv.CsvMapper();
        mapper.enable(com.fasterxml.jackson.dataformat.csv.CsvParser.Feature.WRAP_AS_ARRAY);
        try (com.fasterxml.jackson.databind.MappingIterator<List<String>> it = mapper
                .readerFor(new com.fasterxml.jackson.core.type.TypeReference<List<String>>() { }).readValues(csv.toFile())) {
            while (it.hasNext()) {
                List<String> row = it.next();
                if (!(row.size() == 1 && row.get(0).isBlank())) {
                    rows.add(row);
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new UserError("cannot read " + csv + ": " + e.getMessage().lines().findFirst().orElse(""));
        }
        return rows;
    }

    public void writeJson(String name, Object value) {
        try {
            write(name, ConfigLoader.JSON.writeValueAsString(value));
        } catch (IOException e) {
            throw new UserError("cannot write " + resolve(name) + ": " + e.getMessage());
        }
    }

    public void write(String name, String content) {
        org.xraydl.AtomicFiles.writeString(resolve(name), content);
    }
}
