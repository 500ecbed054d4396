using LongLM.Models;
using LongLM.Runtime;
using Microsoft.Extensions.AI;

namespace LongLM.Chat;

/// <summary>
/// Microsoft.Extensions.AI's <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over a decoder model: each text is
/// encoded as the tokenizer does (BOS when the model uses one), run through the layers, and its final hidden states
/// (after the final norm) are mean-pooled over the tokens and L2-normalised (llama.cpp's default for decoder models:
/// `--pooling mean`, `--embd-normalize 2`). A decoder trained for generation gives rough embeddings; a model
/// fine-tuned for embeddings with mean pooling gives its own.
/// </summary>
/// <remarks>Thread-safe; each text runs on its own sequence. The generator does not own the model.</remarks>
public sealed class LongLMEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly LanguageModel _model;
    private bool _disposed;

    /// <summary>An embedding generator over <paramref name="model"/>.</summary>
    public LongLMEmbeddingGenerator(LanguageModel model)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        Metadata = new EmbeddingGeneratorMetadata("LongLM", new Uri(Path.GetFullPath(model.Directory)),
            Path.GetFileName(Path.TrimEndingDirectorySeparator(model.Directory)), model.Config.HiddenSize);
    }

    /// <summary>Provider "LongLM", the model folder and the hidden size as dimensions.</summary>
    public EmbeddingGeneratorMetadata Metadata { get; }

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(values);
        int hidden = _model.Config.HiddenSize;
        if (options?.Dimensions is int d && d != hidden)
            throw new LongLMException($"this model's embeddings have {hidden} dimensions; {d} were asked for");
        var texts = values.ToList();
        var result = new GeneratedEmbeddings<Embedding<float>>(texts.Count);
        long tokens = 0;
        foreach (var text in texts)
        {
            ArgumentNullException.ThrowIfNull(text);
            var ids = _model.Tokenizer.Encode(text);
            if (ids.Length == 0) throw new LongLMException("cannot embed an empty text (the tokenizer gives no ids and adds no BOS)");
            tokens += ids.Length;
            var vector = await Task.Run(() => Embed(ids, cancellationToken), cancellationToken).ConfigureAwait(false);
            result.Add(new Embedding<float>(vector) { CreatedAt = DateTimeOffset.UtcNow, ModelId = Metadata.DefaultModelId });
        }
        result.Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens };
        return result;
    }

    private float[] Embed(int[] ids, CancellationToken cancellationToken)
    {
        using var sequence = _model.Model.CreateSequence();
        var vector = new float[_model.Config.HiddenSize];
        _model.Model.ForwardHidden(ids, sequence, vector, cancellationToken);
        double norm = Math.Sqrt(vector.Sum(v => (double)v * v));
        if (norm > 0) for (int i = 0; i < vector.Length; i++) vector[i] = (float)(vector[i] / norm);
        return vector;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return Metadata;
        if (serviceType == typeof(LanguageModel)) return _model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Marks the generator disposed (the model stays open).</summary>
    public void Dispose() => _disposed = true;
}
