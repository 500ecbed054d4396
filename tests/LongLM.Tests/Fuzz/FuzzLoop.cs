using System.Diagnostics;
using LongLM.Runtime;

namespace LongLM.Tests.Fuzz;

/// <summary>
/// The loop every file fuzz test shares: for each iteration, write a mutated file, then run the attempt, which must
/// either succeed or throw a <see cref="LongLMException"/>; any other exception, more than 5 s or more than 200 MB
/// allocated by one attempt is a failure, and the whole run must end within 240 s (a hang guard, not a speed target).
/// </summary>
internal static class FuzzLoop
{
    /// <summary>The failures (iteration, step, exception, the file as shown) and how many attempts succeeded.</summary>
    public sealed record Outcome(List<string> Failures, int Succeeded);

    /// <param name="iterations">How many mutated files.</param>
    /// <param name="prepare">Writes iteration i's file(s) and returns the text to show in a failure.</param>
    /// <param name="attempt">Loads and uses them; reports its current step (for messages) through the callback.</param>
    public static async Task<Outcome> RunAsync(int iterations, Func<int, string> prepare, Action<Action<string>> attempt)
    {
        var failures = new List<string>();
        int succeeded = 0;
        var run = Task.Run(() =>
        {
            for (int iteration = 0; iteration < iterations; iteration++)
            {
                string shown = prepare(iteration);
                string step = "load";
                var clock = Stopwatch.StartNew();
                long before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    attempt(s => step = s);
                    succeeded++;
                }
                catch (LongLMException)
                {
                }
                catch (Exception ex)
                {
                    failures.Add($"#{iteration} {step}: {ex.GetType().Name}: {ex.Message}\n    {shown}");
                }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                if (clock.Elapsed > TimeSpan.FromSeconds(5)) failures.Add($"#{iteration}: took {clock.Elapsed.TotalSeconds:F1} s\n    {shown}");
                if (allocated > 200_000_000) failures.Add($"#{iteration}: allocated {allocated} bytes\n    {shown}");
            }
        });
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(240)));
        Assert.True(finished == run, "fuzzing did not finish in 240 s (a hang?)");
        await run;
        return new Outcome(failures, succeeded);
    }
}
