namespace LongLM.Models.Fixtures;

/// <summary>Named model shapes for fixtures: tiny ones for tests, real ones for benchmarks.</summary>
/// <param name="Name">CLI name.</param>
/// <param name="Hidden">hidden_size.</param>
/// <param name="Layers">num_hidden_layers.</param>
/// <param name="Heads">num_attention_heads.</param>
/// <param name="KvHeads">num_key_value_heads.</param>
/// <param name="Intermediate">intermediate_size.</param>
/// <param name="Vocab">vocab_size.</param>
/// <param name="Context">max_position_embeddings.</param>
/// <param name="Tied">tie_word_embeddings.</param>
/// <param name="AttentionBias">Llama: q/k/v/o biases (Qwen2 style); MPT: biases on every Linear and LayerNorm (no_bias false); BLOOM: always true.</param>
/// <param name="Family">The fixture family the shape is for (shape names repeat across families).</param>
public sealed record FixtureShape(string Name, int Hidden, int Layers, int Heads, int KvHeads, int Intermediate, int Vocab, int Context, bool Tied,
    bool AttentionBias = false, string Family = "llama")
{
    /// <summary>Every named shape.</summary>
    public static IReadOnlyList<FixtureShape> All { get; } =
    [
        new("tiny", Hidden: 64, Layers: 2, Heads: 4, KvHeads: 2, Intermediate: 160, Vocab: 320, Context: 256, Tied: false, AttentionBias: true),
        new("tiny-tied", Hidden: 48, Layers: 2, Heads: 6, KvHeads: 3, Intermediate: 128, Vocab: 300, Context: 128, Tied: true),
        // HuggingFaceTB/SmolLM-135M's config.json.
        new("smollm-135m", Hidden: 576, Layers: 30, Heads: 9, KvHeads: 3, Intermediate: 1536, Vocab: 49152, Context: 2048, Tied: true),
        // TinyLlama-1.1B's config.json.
        new("tinyllama-1.1b", Hidden: 2048, Layers: 22, Heads: 32, KvHeads: 4, Intermediate: 5632, Vocab: 32000, Context: 2048, Tied: false),
        // One Llama-2-7B layer (for per-layer benchmarks).
        new("llama2-7b-layer", Hidden: 4096, Layers: 1, Heads: 32, KvHeads: 32, Intermediate: 11008, Vocab: 32000, Context: 4096, Tied: false),
        // ALiBi families: 6 heads (not a power of two, so the interleaved slope rule is exercised), d_model 48, MLP 4 * d.
        new("tiny", Hidden: 48, Layers: 2, Heads: 6, KvHeads: 6, Intermediate: 192, Vocab: 300, Context: 64, Tied: true, Family: "mpt"),
        new("tiny-bias", Hidden: 48, Layers: 2, Heads: 6, KvHeads: 6, Intermediate: 192, Vocab: 300, Context: 64, Tied: true, AttentionBias: true, Family: "mpt"),
        new("tiny", Hidden: 48, Layers: 2, Heads: 6, KvHeads: 6, Intermediate: 192, Vocab: 300, Context: 64, Tied: true, AttentionBias: true, Family: "bloom"),
        // GPT-J: head_dim 16 with rotary_dim 8 (written by GptJFixture as head_dim / 2), so partial rotary matters; untied head with bias.
        new("tiny", Hidden: 64, Layers: 2, Heads: 4, KvHeads: 4, Intermediate: 256, Vocab: 300, Context: 64, Tied: false, Family: "gptj"),
        // GPT-NeoX: head size 16, rotary_pct 0.25 -> 4 rotary dims of 16 (partial rotary), untied embed_out;
        // tiny: use_parallel_residual true (Pythia's default), tiny-seq: false (GptNeoXFixture reads the "-seq" suffix).
        new("tiny", Hidden: 64, Layers: 2, Heads: 4, KvHeads: 4, Intermediate: 256, Vocab: 300, Context: 64, Tied: false, AttentionBias: true, Family: "gpt-neox"),
        new("tiny-seq", Hidden: 64, Layers: 2, Heads: 4, KvHeads: 4, Intermediate: 256, Vocab: 300, Context: 64, Tied: false, AttentionBias: true, Family: "gpt-neox"),
        // Phi: head_dim 16 with partial_rotary_factor 0.5 (8 rotary dims, 8 passed through), GQA 2:1, biases everywhere.
        new("tiny", Hidden: 64, Layers: 2, Heads: 4, KvHeads: 2, Intermediate: 256, Vocab: 300, Context: 64, Tied: false, AttentionBias: true, Family: "phi"),
        // Mixtral: 8 experts top-2 (MixtralFixture); tiny-window sets sliding_window 16.
        new("tiny", Hidden: 64, Layers: 2, Heads: 4, KvHeads: 2, Intermediate: 96, Vocab: 300, Context: 64, Tied: false, Family: "mixtral"),
        new("tiny-window", Hidden: 64, Layers: 2, Heads: 4, KvHeads: 2, Intermediate: 96, Vocab: 300, Context: 64, Tied: false, Family: "mixtral"),
    ];

    /// <summary>The Llama shape called <paramref name="name"/>, or a clear error.</summary>
    public static FixtureShape Find(string name) => Find("llama", name);

    /// <summary>The <paramref name="family"/> shape called <paramref name="name"/>, or a clear error.</summary>
    public static FixtureShape Find(string family, string name) =>
        All.FirstOrDefault(s => s.Family == family && s.Name == name)
        ?? throw new Runtime.LongLMException($"unknown {family} fixture shape '{name}' (available: {string.Join(", ", NamesOf(family))})");

    /// <summary>Shape names of <paramref name="family"/>.</summary>
    public static IEnumerable<string> NamesOf(string family) => All.Where(s => s.Family == family).Select(s => s.Name);
}
