package org.xraydl.explore;


import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class HtmlTest {

    @Test
    void tablesAreEscapedHtml() {
        Table t = new Table(List.of("a", "b<c"), List.of(List.of("1", "x & y"), List.of("2", "|")));
        assertEquals("<table>\n<thead><tr><th>a</th><th>b&lt;c</th></tr></thead>\n<tbody>\n"
                + "<tr><td>1</td><td>x &amp; y</td></tr>\n<tr><td>2</td><td>|</td></tr>\n</tbody>\n</table>\n", t.html());
        assertEquals("| a | b<c |\n|---|---|\n| 1 | x & y |\n| 2 | \\| |\n", t.markdown());
    }

    @Test
    void theMarkdownSubsetOfTheApi() {
        assertEquals("<p>Data folder <code>/a/b_c</code>: <strong>2 skipped</strong>, see <em>below</em>.</p>\n",
                Html.fromMarkdown("Data folder `/a/b_c`: **2 skipped**, see _below_."));
        assertEquals("<p>Charts:</p>\n<ul>\n<li>roc.png: drawn</li>\n<li>loss &lt;x&gt; continued</li>\n</ul>\n",
                Html.fromMarkdown("Charts:\n\n- roc.png: drawn\n- loss <x>\n  continued"));
        assertEquals("<p>one</p>\n<p>two</p>\n", Html.fromMarkdown("one\n\ntwo\n"));
    }
}
