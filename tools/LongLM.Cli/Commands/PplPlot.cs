using LongLM.Runtime.Evaluation;

namespace LongLM.Cli.Commands;

/// <summary>NLL against position, one line per run (the layout of LM-Infinite's Figure 3), drawn with ScottPlot.</summary>
public static class PplPlot
{
    /// <summary>Writes a PNG.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, PerplexityResult Result)> runs, string title)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, result) in runs)
        {
            var line = plot.Add.ScatterLine(result.Curve.Select(p => p.Position).ToArray(), result.Curve.Select(p => p.Nll).ToArray());
            line.LegendText = name;
            line.LineWidth = 1.5f;
        }
        plot.Title($"NLL by position: {title}");
        plot.XLabel("token position");
        plot.YLabel("negative log-likelihood (nats)");
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        plot.SavePng(path, 1000, 560);
    }
}
