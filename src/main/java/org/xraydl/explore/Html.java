package org.xraydl.explore;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * HTML for notebook outputs. Jupyter shows {@code text/html} outputs even in notebooks that are not
 * trusted (the classic notebook drops untrusted {@code text/markdown} outputs), so the notebooks show
 * tables and messages as HTML made here from the same markdown the API produces.
 */
public final class Html {
    private static final Pattern CODE = Pattern.compile("`([^`]+)`");
    private static final Pattern BOLD = Pattern.compile("\\*\\*(.+?)\\*\\*");
    private static final Pattern EMPH = Pattern.compile("(?<![\\w])_(.+?)_(?![\\w])");

    private Html() {
    }

    /** A table with a header row. */
    public static String table(Table t) {
        StringBuilder sb = new StringBuilder("<table>\n<thead><tr>");
        t.header().forEach(h -> sb.append("<th>").append(escape(h)).append("</th>"));
        sb.append("</tr></thead>\n<tbody>\n");
        for (List<String> r : t.rows()) {
            sb.append("<tr>");
            r.forEach(v -> sb.append("<td>").append(escape(v)).append("</td>"));
            sb.append("</tr>\n");
        }
        return sb.append("</tbody>\n</table>\n").toString();
    }

    /**
     * The small markdown subset the explore API writes: paragraphs (blank lines), "- " bullet lists,
     * {@code `code`}, {@code **bold**} and {@code _emphasis_}. Everything else is escaped text.
     */
    public static String fromMarkdown(String markdown) {
        StringBuilder sb = new StringBuilder();
        for (String block : markdown.strip().split("\\n\\s*\\n")) {
            List<String> lines = block.lines().toList();
            List<String> items = new ArrayList<>();
            List<String> text = new ArrayList<>();
            for (String l : lines) {
                if (l.startsWith("- ")) {
                    items.add(l.substring(2));
                } else if (!items.isEmpty()) {
                    items.set(items.size() - 1, items.get(items.size() - 1) + " " + l.strip());
                } else {
                    text.add(l);
                }
            }
            if (!text.isEmpty()) {
                sb.append("<p>").append(inline(String.join(" ", text))).append("</p>\n");
            }
            if (!items.isEmpty()) {
                sb.append("<ul>\n");
                items.forEach(i -> sb.append("<li>").append(inline(i)).append("</li>\n"));
                sb.append("</ul>\n");
            }
        }
        return sb.toString();
    }

    static String inline(String s) {
        String out = escape(s);
        out = replace(CODE, out, "<code>", "</code>");
        out = replace(BOLD, out, "<strong>", "</strong>");
        return replace(EMPH, out, "<em>", "</em>");
    }

    private static String replace(Pattern p, String s, String open, String close) {
        Matcher m = p.matcher(s);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(sb, Matcher.quoteReplacement(open + m.group(1) + close));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    public static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
