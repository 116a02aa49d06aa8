package org.xraydl.ui;

import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import org.xraydl.report.Charts;
import org.xraydl.run.RunDirectory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Routes added to the DL4J UI: {@code /run} is a page with the run folder's PNG charts, and
 * {@code /run/<file>} serves one of a fixed list of the folder's files (charts, history.csv, metrics.json),
 * nothing else. During training the page reloads itself, since the charts are redrawn after each epoch.
 */
final class RunFilesRoutes {
    static final String PAGE = "/run";
    /** Every chart of a run (one list: {@link Charts#FILES}) and its history and metrics; nothing else. */
    static final List<String> SERVED = Stream.concat(Charts.FILES.stream(),
            Stream.of(RunDirectory.HISTORY, RunDirectory.METRICS)).toList();

    private volatile Path runDir;

    void show(Path dir) {
        this.runDir = dir.toAbsolutePath().normalize();
    }

    void install(Router router) {
        router.get(PAGE).handler(this::page);
        router.get(PAGE + "/").handler(this::page);
        router.get(PAGE + "/:file").handler(this::file);
    }

    private void page(RoutingContext rc) {
        Path dir = runDir;
        StringBuilder html = new StringBuilder("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
                + "<meta http-equiv=\"refresh\" content=\"30\"><title>Run charts</title>"
                + "<style>body{font-family:sans-serif;margin:2em}img{max-width:100%;border:1px solid #ddd;margin:1em 0;display:block}</style>"
                + "</head><body>");
        if (dir == null) {
            html.append("<h1>No run folder</h1><p>This UI shows no run's charts.</p>");
        } else {
            html.append("<h1>Run ").append(escape(dir.getFileName().toString())).append("</h1>")
                    .append("<p>").append(escape(dir.toString())).append(" &middot; <a href=\"/train/overview\">DL4J training UI</a>")
                    .append(" &middot; <a href=\"").append(PAGE).append('/').append(RunDirectory.HISTORY).append("\">history.csv</a>")
                    .append(" &middot; <a href=\"").append(PAGE).append('/').append(RunDirectory.METRICS).append("\">metrics.json</a></p>");
            boolean any = false;
            for (String png : Charts.FILES) {
                if (Files.isRegularFile(dir.resolve(png))) {
                    any = true;
                    html.append("<img alt=\"").append(png).append("\" src=\"").append(PAGE).append('/').append(png)
                            .append("?t=").append(System.currentTimeMillis()).append("\">");
                }
            }
            if (!any) {
                html.append("<p>No charts yet: they are drawn after the first epoch.</p>");
            }
        }
        html.append("</body></html>");
        rc.response().putHeader("content-type", "text/html; charset=utf-8").putHeader("cache-control", "no-store").end(html.toString());
    }

    private void file(RoutingContext rc) {
        String name = rc.pathParam("file");
        Path dir = runDir;
        if (dir == null || name == null || !SERVED.contains(name) || !Files.isRegularFile(dir.resolve(name))) {
            rc.response().setStatusCode(404).putHeader("content-type", "text/plain").end("not found\n");
            return;
        }
        String type = name.endsWith(".png") ? "image/png" : name.endsWith(".json") ? "application/json" : "text/csv; charset=utf-8";
        rc.response().putHeader("content-type", type).putHeader("cache-control", "no-store")
                .sendFile(dir.resolve(name).toString());
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
