namespace LongLM.Tests;

/// <summary>
/// Runs a body that must finish fast on hostile input: on the thread pool, failing the test after 10 s instead of
/// hanging the suite, and reporting what it allocated on its thread (a huge allocation shows up here, not as OOM).
/// </summary>
/// <remarks>10 s is a hang guard, not a speed target: the cases it guards take well under a second.</remarks>
public static class HangGuard
{
    public static async Task<(T Result, long AllocatedBytes)> Run<T>(Func<T> body)
    {
        var run = Task.Run(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            T result = body();
            return (result, GC.GetAllocatedBytesForCurrentThread() - before);
        });
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.True(finished == run, "did not finish within 10 s (a hang or a huge allocation?)");
        return await run;
    }

    /// <summary>The exception <paramref name="body"/> throws (null if none), within the guard and under 200 MB.</summary>
    public static async Task<Exception?> Throws(Action body)
    {
        var (error, allocated) = await Run(() => Record.Exception(body));
        Assert.True(allocated < 200_000_000, $"{allocated} bytes allocated");
        return error;
    }
}
