package org.xraydl.explore;

import com.fasterxml.jackson.databind.JsonNode;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Speed: the benchmark goal's output when there is some ({@value #BENCHMARK_JSON} /
 * {@value #BENCHMARK_PNG}: one row per measured workload with at least model, size, batch, step,
 * img_per_s; {@value #WORKERS_JSON} / {@value #WORKERS_PNG}: training time per epoch against the
 * number of workers), and the speed every training run records in its history.csv (seconds and
 * images per second per epoch). The JSON is read without binding to the benchmark's classes: the
 * rows are the largest array of objects in the file ({@code results}, {@code points}, ...).
 */
public final class SpeedExplorer {
    public static final String BENCHMARK_JSON = "benchmark.json";
    public static final String BENCHMARK_PNG = "benchmark.png";
    public static final String WORKERS_JSON = "workers.json";
    public static final String WORKERS_PNG = "workers.png";

    /** One training run's recorded speed. */
    public record RunSpeed(Path dir, String model, int imageSize, int batch, int workers, String engine, int epochs,
                           double secondsPerEpoch, double imagesPerSecond) {
        public String label() {
            return dir.getFileName() + " (" + workers + (workers == 1 ? " worker)" : " workers)");
        }
    }

    private final Path benchmarkDir;
    private final List<Path> runDirs;
    private final List<String> notes = new ArrayList<>();

    private SpeedExplorer(Path benchmarkDir, List<Path> runDirs) {
        this.benchmarkDir = benchmarkDir;
        this.runDirs = List.copyOf(runDirs);
    }

    /** @param benchmarkDir the benchmark's output folder, or null; @param runDirs training runs to compare */
    public static SpeedExplorer open(Path benchmarkDir, List<Path> runDirs) {
        return new SpeedExplorer(benchmarkDir, runDirs);
    }

    /** The locations {@link Explore} finds: the newest benchmark output and every run under the runs folder. */
    public static SpeedExplorer fromEnvironment() {
        return open(Explore.benchmarkDir().orElse(null), Explore.runDirs(Explore.runsDir()));
    }

    public Optional<Path> benchmarkDir() {
        return Optional.ofNullable(benchmarkDir);
    }

    public List<Path> runDirs() {
        return runDirs;
    }

    public boolean hasBenchmark() {
        return benchmarkDir != null && Files.isRegularFile(benchmarkDir.resolve(BENCHMARK_JSON));
    }

    public boolean hasWorkers() {
        return benchmarkDir != null && Files.isRegularFile(benchmarkDir.resolve(WORKERS_JSON));
    }

    /** A markdown paragraph saying what was found, and how to get what is missing. */
    public String status() {
        StringBuilder sb = new StringBuilder();
        if (hasBenchmark() || hasWorkers()) {
            sb.append("Benchmark output: `").append(benchmarkDir).append("` (");
            List<String> have = new ArrayList<>();
            if (hasBenchmark()) {
                have.add(BENCHMARK_JSON);
            }
            if (hasWorkers()) {
                have.add(WORKERS_JSON);
            }
            sb.append(String.join(", ", have)).append(").\n\n");
        }
        if (!hasBenchmark() || !hasWorkers()) {
            String where = benchmarkDir == null ? "No benchmark output found (no `runs/benchmark-*` folder with "
                    + BENCHMARK_JSON + " or " + WORKERS_JSON + ", and `" + Explore.BENCHMARK + "` is not set)"
                    : "`" + benchmarkDir + "` has no " + (hasBenchmark() ? WORKERS_JSON : hasWorkers() ? BENCHMARK_JSON
                    : BENCHMARK_JSON + " or " + WORKERS_JSON);
            sb.append("**").append(where).append(".** ");
            sb.append("Run the benchmark goal first, e.g. `mvn -q compile exec:java@benchmark -Dexec.args=\"--out runs/benchmark-1\"` ")
                    .append("(see `--help` for a quick, small configuration), then re-run this notebook or point `")
                    .append(Explore.BENCHMARK).append("` at its output folder.");
            sb.append(" Below: the speed the training runs recorded.\n");
        }
        return sb.toString();
    }

    /** The benchmark rows as flat key → value maps (nested objects and arrays left out). */
    public List<Map<String, Object>> benchmarkRows() {
        return rows(require(BENCHMARK_JSON));
    }

    public List<Map<String, Object>> workersRows() {
        return rows(require(WORKERS_JSON));
    }

    /** The benchmark table: model, size, batch, step, img/s first, then the other scalar columns. */
    public Table benchmarkTable() {
        return table(benchmarkRows(), List.of("model", "size", "batch", "step", "img_per_s", "ms_per_batch", "error"));
    }

    public Table workersTable() {
        return table(workersRows(), List.of("workers", "seconds_per_epoch", "img_per_s", "speedup"));
    }

    /** Images per second of every benchmark row, grouped by model and size, one series per step. */
    public CategoryChart benchmarkChart() {
        List<Map<String, Object>> rows = benchmarkRows();
        Set<String> cats = new LinkedHashSet<>();
        Set<String> steps = new LinkedHashSet<>();
        for (Map<String, Object> r : rows) {
            cats.add(category(r));
            steps.add(String.valueOf(r.getOrDefault("step", "all")));
        }
        CategoryChart chart = new CategoryChartBuilder().width(900).height(500)
                .title("Benchmark: images per second").xAxisTitle("model, input size, batch").yAxisTitle("images / s").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        chart.getStyler().setXAxisLabelRotation(20);
        chart.getStyler().setLabelsVisible(false);
        List<String> catList = List.copyOf(cats);
        for (String step : steps) {
            List<Double> ys = new ArrayList<>();
            for (String cat : catList) {
                double v = 0;
                for (Map<String, Object> r : rows) {
                    if (category(r).equals(cat) && String.valueOf(r.getOrDefault("step", "all")).equals(step)) {
                        v = number(r.get("img_per_s"));
                    }
                }
                ys.add(Double.isFinite(v) ? v : 0.0);
            }
            chart.addSeries(step, catList, ys);
        }
        return chart;
    }

    /** The benchmark chart: its {@value #BENCHMARK_PNG} when present, else {@link #benchmarkChart()}. */
    public BufferedImage benchmarkImage() {
        return pngOr(BENCHMARK_PNG, () -> Images.of(benchmarkChart()));
    }

    /** Seconds per training epoch (left axis) and images per second (right axis) against the number of workers. */
    public XYChart workersChart() {
        List<Map<String, Object>> rows = workersRows();
        String xKey = key(rows, "worker");
        String tKey = key(rows, "second");
        if (xKey == null || tKey == null) {
            throw new UserError(benchmarkDir.resolve(WORKERS_JSON) + " has no workers / seconds columns: " + columns(rows));
        }
        XYChart chart = new XYChartBuilder().width(800).height(480)
                .title("Training time vs workers").xAxisTitle("workers").yAxisTitle("seconds per epoch").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setXAxisDecimalPattern("#0");
        chart.getStyler().setYAxisMin(0, 0.0);
        List<Double> x = rows.stream().map(r -> number(r.get(xKey))).toList();
        XYSeries t = chart.addSeries("seconds per epoch", x, rows.stream().map(r -> number(r.get(tKey))).toList());
        t.setMarker(SeriesMarkers.CIRCLE);
        t.setLineColor(new Color(31, 119, 180));
        if (rows.stream().allMatch(r -> r.get("img_per_s") != null)) {
            chart.setYAxisGroupTitle(1, "images / s");
            chart.getStyler().setYAxisGroupPosition(1, Styler.YAxisPosition.Right);
            chart.getStyler().setYAxisMin(1, 0.0);
            XYSeries s = chart.addSeries("images / s", x, rows.stream().map(r -> number(r.get("img_per_s"))).toList());
            s.setYAxisGroup(1);
            s.setMarker(SeriesMarkers.DIAMOND);
            s.setLineColor(new Color(255, 127, 14));
        }
        return chart;
    }

    /** Time vs workers: its {@value #WORKERS_PNG} when present, else {@link #workersChart()}. */
    public BufferedImage workersImage() {
        return pngOr(WORKERS_PNG, () -> Images.of(workersChart()));
    }

    /** The speed recorded by each training run (median over its epochs: a first epoch's warm-up weighs little), oldest run first. */
    public List<RunSpeed> runSpeeds() {
        List<RunSpeed> out = new ArrayList<>();
        for (Path d : runDirs) {
            List<EpochRecord> h = RunDirectory.readHistory(d.resolve(RunDirectory.HISTORY));
            if (h.isEmpty()) {
                continue;
            }
            Map<String, Object> c = yaml(d.resolve(RunDirectory.CONFIG));
            String engine = "";
            Path prov = d.resolve(RunDirectory.PROVENANCE);
            if (Files.isRegularFile(prov)) {
                try {
                    JsonNode p = ConfigLoader.JSON.readTree(prov.toFile());
                    engine = p.path("engine").asText("");
                } catch (IOException e) {
                    // leave empty
                }
            }
            out.add(new RunSpeed(d, String.valueOf(c.getOrDefault("model", "?")), (int) number(c.get("imageSize")),
                    (int) number(c.get("batchSize")), c.get("workers") == null ? 1 : (int) number(c.get("workers")), engine, h.size(),
                    median(h.stream().mapToDouble(EpochRecord::seconds).toArray()),
                    median(h.stream().mapToDouble(EpochRecord::imagesPerSecond).toArray())));
        }
        return out;
    }

    public Table runSpeedTable() {
        List<List<String>> rows = new ArrayList<>();
        for (RunSpeed r : runSpeeds()) {
            rows.add(List.of(r.dir().getFileName().toString(), r.model(), String.valueOf(r.imageSize()), String.valueOf(r.batch()),
                    String.valueOf(r.workers()), r.engine(), String.valueOf(r.epochs()), Table.num(r.secondsPerEpoch(), 1),
                    Table.num(r.imagesPerSecond(), 1)));
        }
        return new Table(List.of("run", "model", "size", "batch", "workers", "engine", "epochs", "s / epoch", "img/s"), rows);
    }

    /** Training images per second of each run (median over its epochs), labelled with its number of workers. */
    public CategoryChart runSpeedChart() {
        List<RunSpeed> speeds = runSpeeds();
        if (speeds.isEmpty()) {
            throw new UserError("no training runs to compare (looked in " + Explore.runsDir() + ")");
        }
        CategoryChart chart = new CategoryChartBuilder().width(800).height(460)
                .title("Training speed recorded by the runs (median over epochs)").xAxisTitle("run").yAxisTitle("images / s").build();
        chart.getStyler().setLegendVisible(false);
        chart.getStyler().setLabelsVisible(true);
        chart.getStyler().setXAxisLabelRotation(15);
        chart.addSeries("images / s", speeds.stream().map(RunSpeed::label).toList(),
                speeds.stream().map(r -> Double.isFinite(r.imagesPerSecond()) ? Math.round(r.imagesPerSecond() * 10) / 10.0 : 0.0).toList());
        return chart;
    }

    /** {@link #runSpeedChart()} as an image, or a message image when there is no run to compare. */
    public BufferedImage runSpeedImage() {
        if (runSpeeds().isEmpty()) {
            return Images.message("No training runs to compare: train one first (mvn -q compile exec:java@train)\n"
                    + "or set " + Explore.RUNS + " to a folder of run folders.", 760);
        }
        return Images.of(runSpeedChart());
    }

    /** Which charts came from the benchmark's PNG files and which were drawn here. */
    public List<String> notes() {
        return List.copyOf(notes);
    }

    private Path require(String name) {
        if (benchmarkDir == null || !Files.isRegularFile(benchmarkDir.resolve(name))) {
            throw new UserError("no " + name + (benchmarkDir == null ? " (no benchmark folder)" : " in " + benchmarkDir)
                    + ": run the benchmark goal first or set " + Explore.BENCHMARK);
        }
        return benchmarkDir.resolve(name);
    }

    private BufferedImage pngOr(String png, java.util.function.Supplier<BufferedImage> draw) {
        Path f = benchmarkDir == null ? null : benchmarkDir.resolve(png);
        if (f != null && Files.isRegularFile(f)) {
            try {
                BufferedImage img = ImageIO.read(f.toFile());
                if (img != null) {
                    notes.add(png + ": the benchmark's own file");
                    return img;
                }
            } catch (IOException e) {
                // draw it
            }
        }
        notes.add(png + ": drawn from the JSON");
        return draw.get();
    }

    /** The rows of a benchmark JSON file: the largest array of objects in it (or one object per line, JSON Lines). */
    static List<Map<String, Object>> rows(Path file) {
        List<JsonNode> objects = new ArrayList<>();
        try {
            JsonNode root = ConfigLoader.JSON.readTree(file.toFile());
            JsonNode best = largestObjectArray(root);
            if (best != null) {
                best.forEach(objects::add);
            } else if (root != null && root.isObject()) {
                objects.add(root);
            }
        } catch (IOException e) {
            try {
                for (String line : Files.readAllLines(file)) {
                    if (!line.isBlank()) {
                        objects.add(ConfigLoader.JSON.readTree(line));
                    }
                }
            } catch (IOException e2) {
                throw new UserError("cannot read " + file + ": " + e.getMessage());
            }
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (JsonNode o : objects) {
            Map<String, Object> m = new LinkedHashMap<>();
            Iterator<Map.Entry<String, JsonNode>> it = o.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode v = e.getValue();
                if (v.isNumber()) {
                    m.put(e.getKey(), v.asDouble());
                } else if (v.isTextual() || v.isBoolean()) {
                    m.put(e.getKey(), v.asText());
                }
            }
            out.add(m);
        }
        return out;
    }

    private static JsonNode largestObjectArray(JsonNode n) {
        if (n == null) {
            return null;
        }
        JsonNode best = null;
        if (n.isArray() && n.size() > 0 && n.get(0).isObject()) {
            best = n;
        }
        for (JsonNode child : n) {
            JsonNode c = largestObjectArray(child);
            if (c != null && (best == null || c.size() > best.size())) {
                best = c;
            }
        }
        return best;
    }

    private static Table table(List<Map<String, Object>> rows, List<String> first) {
        List<String> cols = new ArrayList<>();
        Set<String> all = columns(rows);
        first.stream().filter(all::contains).forEach(cols::add);
        all.stream().filter(c -> !cols.contains(c)).forEach(cols::add);
        List<List<String>> out = new ArrayList<>();
        for (Map<String, Object> r : rows) {
            List<String> line = new ArrayList<>();
            for (String c : cols) {
                Object v = r.get(c);
                line.add(v == null ? "" : v instanceof Double d ? Table.num(d, 2) : String.valueOf(v));
            }
            out.add(line);
        }
        return new Table(cols, out);
    }

    private static Set<String> columns(List<Map<String, Object>> rows) {
        Set<String> all = new LinkedHashSet<>();
        rows.forEach(r -> all.addAll(r.keySet()));
        return all;
    }

    private static String key(List<Map<String, Object>> rows, String part) {
        for (String c : columns(rows)) {
            if (c.toLowerCase(Locale.ROOT).contains(part) && rows.stream().allMatch(r -> r.get(c) instanceof Double)) {
                return c;
            }
        }
        return null;
    }

    private static String category(Map<String, Object> r) {
        Object size = r.get("size");
        Object batch = r.get("batch");
        return r.getOrDefault("model", "?") + (size == null ? "" : " " + Table.num(number(size), 0) + " px")
                + (batch == null ? "" : " b" + Table.num(number(batch), 0));
    }

    static double median(double[] v) {
        if (v.length == 0) {
            return Double.NaN;
        }
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static double number(Object o) {
        if (o instanceof Number n) {
            return n.doubleValue();
        }
        if (o == null) {
            return Double.NaN;
        }
        try {
            return Double.parseDouble(o.toString());
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> yaml(Path f) {
        if (!Files.isRegularFile(f)) {
            return Map.of();
        }
        try {
            return ConfigLoader.YAML.readValue(f.toFile(), LinkedHashMap.class);
        } catch (IOException e) {
            return Map.of();
        }
    }
}
