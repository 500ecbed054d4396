using LongLM.Kernels;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;

namespace LongLM.Runtime.Inference;

/// <summary>Which logits rows a forward call returns.</summary>
public enum LogitsRows
{
    /// <summary>Only the last token's (decode, generation).</summary>
    Last,
    /// <summary>Every token's (scoring, perplexity, the logits command).</summary>
    All,
}

/// <summary>A decoder-only language model bound to a backend: one file per family implements it.</summary>
public interface ICausalLM : IDisposable
{
    /// <summary>The model's config.json.</summary>
    ModelConfig Config { get; }

    /// <summary>The backend the weights live on.</summary>
    IBackend Backend { get; }

    /// <summary>The attention policy the model runs with (vanilla, window, LM-Infinite ...).</summary>
    AttentionPolicy Policy { get; }

    /// <summary>An empty KV cache shaped for this model and policy; its first token sits at <paramref name="firstPosition"/>.</summary>
    KvCache CreateCache(long firstPosition = 0);

    /// <summary>
    /// Runs <paramref name="ids"/> at the cache's next positions, appends their keys and values, and writes
    /// float32 logits ([1 or ids.Length, vocab_size]) into <paramref name="logits"/>.
    /// </summary>
    void Forward(ReadOnlySpan<int> ids, KvCache cache, Span<float> logits, LogitsRows rows);
}
