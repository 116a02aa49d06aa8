package org.xraydl.diagnose;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.xraydl.data.Resampling;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_UNCHANGED;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imread;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;

/**
 * Resize check, Java side, for {@code tools/antialias_compare.py}: runs the data path's resize
 * ({@link Resampling#resize}) on lossless images the script decoded with PIL, so only the resize is compared.
 * Each line of the jobs file: {@code in.pgm|ppm x y w h outW outH mode out.pgm|ppm}, mode {@code antialias},
 * {@code linear} (opencv, INTER_LINEAR: the training crop) or {@code area} (opencv, INTER_AREA: evaluation).
 * <pre>
 * mvn -q -o compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java -cp target/classes:$(cat target/cp.txt) org.xraydl.diagnose.ResizeDump target/aacheck/jobs.txt
 * </pre>
 */
public final class ResizeDump {
    private ResizeDump() {
    }

    public static void main(String[] args) throws IOException {
        List<String> jobs = Files.readAllLines(Path.of(args[0]));
        for (String line : jobs) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.trim().split("\\s+");
            Mat in = imread(f[0], IMREAD_UNCHANGED);
            if (in.empty()) {
                throw new IOException("cannot read " + f[0]);
            }
            Mat crop = in.apply(new Rect(Integer.parseInt(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]), Integer.parseInt(f[4])));
            int w = Integer.parseInt(f[5]);
            int h = Integer.parseInt(f[6]);
            Mat out = switch (f[7]) {
                case "antialias" -> Resampling.ANTIALIAS.resize(crop, w, h, INTER_LINEAR);
                case "linear" -> Resampling.OPENCV.resize(crop, w, h, INTER_LINEAR);
                case "area" -> Resampling.OPENCV.resize(crop, w, h, INTER_AREA);
                default -> throw new IllegalArgumentException("mode must be antialias, linear or area: " + line);
            };
            if (!imwrite(f[8], out)) {
                throw new IOException("cannot write " + f[8]);
            }
        }
        System.out.println(jobs.size() + " resizes written");
    }
}
