using LongLM.Runtime.Evaluation;

namespace LongLM.Cli.Commands;

/// <summary>BLEU-4 (solid) and ROUGE-L (dashed) against the prefix length, one colour per run, drawn with ScottPlot.</summary>
public static class ContinueEvalPlot
{
    /// <summary>Writes a PNG; scores are drawn x100 as in LM-Infinite's Table 3.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, IReadOnlyList<ContinuationPoint> Points)> runs, string title, int tokens)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < runs.Count; i++)
        {
            var (name, points) = runs[i];
            double[] xs = points.Select(p => Math.Log2(p.Milestone)).ToArray();
            var bleu = plot.Add.Scatter(xs, points.Select(p => 100 * p.Bleu.Score).ToArray());
            bleu.LegendText = $"{name}: BLEU-4";
            bleu.Color = palette.GetColor(i);
            bleu.LineWidth = 1.5f;
            var rouge = plot.Add.Scatter(xs, points.Select(p => 100 * p.RougeL.F).ToArray());
            rouge.LegendText = $"{name}: ROUGE-L";
            rouge.Color = palette.GetColor(i);
            rouge.LineWidth = 1.5f;
            rouge.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        // Milestones double, so the axis is log2 with ticks labelled in tokens.
        var ticks = runs.SelectMany(r => r.Points.Select(p => p.Milestone)).Distinct().Order()
            .Select(m => new ScottPlot.Tick(Math.Log2(m), m.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.Title($"Continuation quality ({tokens} greedy tokens): {title}");
        plot.XLabel("prefix length (tokens, log scale)");
        plot.YLabel("score x100");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.SavePng(path, 1000, 560);
    }
}
