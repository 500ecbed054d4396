using LongLM.Models;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Tests.Engine;

/// <summary>
/// Disposed objects throw <see cref="ObjectDisposedException"/> (never read unmapped memory), Dispose twice is a
/// no-op, and disposing a model waits for a call in flight instead of pulling the memory map from under it.
/// </summary>
public sealed class LifetimeTests
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");
    private static readonly GenerationOptions Greedy = new() { MaxTokens = 5, Sampling = SamplingOptions.Greedy };

    [Fact]
    public void DisposedModel_Throws_ObjectDisposedException()
    {
        var lm = LanguageModel.Load(Stories);
        var session = lm.CreateSession();
        var sequence = lm.Model.CreateSequence();
        lm.Dispose();
        lm.Dispose();
        Assert.Throws<ObjectDisposedException>(() => lm.Logits([1, 2, 3]));
        Assert.Throws<ObjectDisposedException>(() => lm.CreateSession());
        Assert.Throws<ObjectDisposedException>(() => lm.Model.CreateSequence());
        Assert.Throws<ObjectDisposedException>(() => session.Generate([1], Greedy).ToArray());
        Assert.Throws<ObjectDisposedException>(() => lm.Model.Forward([1], sequence, new float[512], LogitsRows.Last));
        session.Dispose();
        sequence.Dispose();
    }

    [Fact]
    public void DisposedSession_Throws_ObjectDisposedException_AndDisposeTwiceIsANoOp()
    {
        using var lm = LanguageModel.Load(Stories);
        var session = lm.CreateSession();
        var tokens = session.Generate([1], Greedy with { MaxTokens = 20 }).GetEnumerator();
        Assert.True(tokens.MoveNext());
        session.Dispose();
        session.Dispose();
        Assert.Throws<ObjectDisposedException>(() => session.Generate([1], Greedy).ToArray());
        Assert.Throws<ObjectDisposedException>(() => tokens.MoveNext());
        Assert.Throws<ObjectDisposedException>(() => session.Prefill([1]));
        Assert.Throws<ObjectDisposedException>(() => session.Cache);
        // The model is unaffected.
        using var other = lm.CreateSession();
        Assert.Equal(5, other.Generate([1], Greedy).Count());
    }

    [Fact]
    public void DisposedSequence_Throws_ObjectDisposedException()
    {
        using var lm = LanguageModel.Load(Stories);
        var sequence = lm.Model.CreateSequence();
        sequence.Dispose();
        sequence.Dispose();
        Assert.Throws<ObjectDisposedException>(() => lm.Model.Forward([1], sequence, new float[512], LogitsRows.Last));
    }

    [Fact]
    public async Task ModelDisposedDuringACall_TheCallStopsCleanly()
    {
        var lm = LanguageModel.Load(Stories);
        using var sequence = lm.Model.CreateSequence();
        sequence.PrefillChunk = 32;
        var ids = Enumerable.Range(0, 20000).Select(i => 3 + i % 500).ToArray();
        var call = Task.Run(() => lm.Model.Forward(ids, sequence, new float[512], LogitsRows.Last));
        SpinWait.SpinUntil(() => sequence.TokenCount > 0 || call.IsCompleted, TimeSpan.FromSeconds(30));
        lm.Dispose(); // waits for the call to reach its next chunk boundary, then unmaps
        await Assert.ThrowsAsync<ObjectDisposedException>(() => call);
        Assert.True(sequence.TokenCount < ids.Length);
    }
}
