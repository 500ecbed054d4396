using System.Globalization;

namespace LongLM.Cli.Commands;

/// <summary>
/// `longlm bench --plot`: decode speed and KV-cache memory against depth (LM-Infinite's Appendix G, Figure 7's
/// comparison), one colour per (model, attention, threads): tokens/s solid on the left axis, KV-cache MiB dashed on
/// the right (rows of one depth from several runs averaged). Only tg rows at depths above 0 are drawn; depths double, so the x axis is log2.
/// </summary>
public static class BenchPlot
{
    /// <summary>Writes a PNG.</summary>
    public static void Write(string path, IReadOnlyList<BenchRow> rows, string title)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var groups = rows.Where(r => r.Test == "tg" && r.Depth > 0)
            .GroupBy(r => (r.Model, r.Attention, r.Threads, r.Backend, r.Tokens)).ToList();
        for (int i = 0; i < groups.Count; i++)
        {
            // Rows of one depth from several runs (--from) are averaged into one point.
            var points = groups[i].GroupBy(r => r.Depth).OrderBy(g => g.Key)
                .Select(g => (Depth: g.Key, Speed: g.Average(r => r.MeanTokensPerSecond), Kv: g.Average(r => (double)r.KvBytes))).ToArray();
            double[] xs = points.Select(r => Math.Log2(r.Depth)).ToArray();
            string label = $"{groups[i].Key.Model}, {groups[i].Key.Attention}" + (groups[i].Key.Threads is int t ? $", t={t}" : "");
            var speed = plot.Add.Scatter(xs, points.Select(r => r.Speed).ToArray());
            speed.LegendText = $"{label}: tg{groups[i].Key.Tokens} t/s";
            speed.Color = palette.GetColor(i);
            speed.LineWidth = 1.5f;
            var kv = plot.Add.Scatter(xs, points.Select(r => r.Kv / (1 << 20)).ToArray());
            kv.LegendText = $"{label}: KV MiB";
            kv.Color = palette.GetColor(i);
            kv.LineWidth = 1.5f;
            kv.LinePattern = ScottPlot.LinePattern.Dashed;
            kv.Axes.YAxis = plot.Axes.Right;
        }
        var ticks = groups.SelectMany(g => g.Select(r => r.Depth)).Distinct().Order()
            .Select(d => new ScottPlot.Tick(Math.Log2(d), d % 1024 == 0 ? $"{d / 1024}K" : d.ToString(CultureInfo.InvariantCulture))).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.Title($"Decode speed and KV cache by depth: {title}");
        plot.XLabel("depth: tokens in the cache (log scale)");
        plot.YLabel("decode tokens/s (solid)");
        plot.Axes.Right.Label.Text = "KV cache MiB (dashed)";
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.SavePng(path, 1100, 620);
    }
}
