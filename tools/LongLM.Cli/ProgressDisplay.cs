using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace LongLM.Cli;

/// <summary>
/// Progress on stderr for a person at a terminal (<see cref="CliIO.ShowProgress"/>); nothing at all when stderr is
/// redirected, so pipes, files and tests see only clean lines.
/// </summary>
public static class ProgressDisplay
{
    /// <summary>
    /// Runs <paramref name="run"/> with a Spectre.Console bar on stderr (description, bar, percentage, time left) counting
    /// to <paramref name="total"/>; without a terminal it runs with no progress reporter.
    /// </summary>
    public static T WithBar<T>(CliIO io, string description, long total, Func<IProgress<long>?, T> run)
    {
        if (!io.ShowProgress) return run(null);
        // Interactive: stderr is a terminal (ShowProgress), whatever stdout is (the table may go to a pipe).
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error), Interactive = InteractionSupport.Yes });
        T result = default!;
        console.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(CliIO.Escape(description).EscapeMarkup(), maxValue: Math.Max(1, total));
                result = run(new SynchronousProgress(v => task.Value = v));
                task.Value = task.MaxValue;
            });
        return result;
    }

    /// <summary>
    /// An elapsed-time spinner for work that reports no progress (a prefill is one logical forward call). It appears only
    /// after half a second, redraws one \r line on stderr and erases it when disposed; a no-op without a terminal.
    /// </summary>
    public static IDisposable Spinner(CliIO io, string label) => io.ShowProgress ? new SpinnerLine(io.Err, label) : NoOp.Instance;

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }

    private sealed class NoOp : IDisposable
    {
        public static readonly NoOp Instance = new();

        public void Dispose()
        {
        }
    }

    private sealed class SpinnerLine : IDisposable
    {
        private static readonly string[] s_frames = ["|", "/", "-", "\\"];
        private readonly TextWriter _err;
        private readonly string _label;
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly Timer _timer;
        private readonly object _gate = new();
        private int _frame, _width;
        private bool _done;

        public SpinnerLine(TextWriter err, string label)
        {
            _err = err;
            _label = CliIO.Escape(label);
            _timer = new Timer(_ => Draw(), null, dueTime: 500, period: 200);
        }

        private void Draw()
        {
            lock (_gate)
            {
                if (_done) return;
                double seconds = Stopwatch.GetElapsedTime(_start).TotalSeconds;
                string line = string.Create(CultureInfo.InvariantCulture, $"{s_frames[_frame++ % s_frames.Length]} {_label} {seconds:F1} s");
                _err.Write("\r" + line.PadRight(_width));
                _err.Flush();
                _width = Math.Max(_width, line.Length);
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _done = true;
                _timer.Dispose();
                if (_width > 0)
                {
                    _err.Write("\r" + new string(' ', _width) + "\r");
                    _err.Flush();
                }
            }
        }
    }
}
