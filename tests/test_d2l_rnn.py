"""ember.d2l, chapter 9: the time machine, vocabularies, RNNs from scratch and concise."""
import os
import re

import pytest

import ember as torch
from ember import d2l

SHARED = os.environ.get("EMBER_DATA", "/work/shared/data")
needs_text = pytest.mark.skipif(not os.path.isfile(os.path.join(SHARED, "d2l", "timemachine.txt")),
                                reason="needs $EMBER_DATA/d2l/timemachine.txt")


@pytest.fixture
def shared_data(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBER_DATA", SHARED)
    monkeypatch.setenv("EMBER_FIGURES", str(tmp_path / "figures"))
    monkeypatch.chdir(tmp_path)  # d2l's ../data root stays inside the test's directory


@needs_text
def test_time_machine_tokens_and_vocab(shared_data):
    data = d2l.TimeMachine(batch_size=2, num_steps=10)
    raw = data._download()
    assert raw[:38] == "The Time Machine, by H. G. Wells [1898]"[:38]
    text = data._preprocess(raw)
    assert text[:30] == "the time machine by h g wells "
    corpus, vocab = data.build(raw)
    assert (len(corpus), len(vocab)) == (173428, 28)
    assert vocab.token_freqs[:3] == [(" ", 32775), ("e", 17838), ("t", 13515)]
    assert vocab.to_tokens(corpus[:16]) == list("the time machine")
    assert vocab.idx_to_token[:3] == [" ", "<unk>", "a"]
    words = d2l.Vocab(text.split())
    assert len(words) == 4580
    assert [t for t, _ in words.token_freqs[:10]] == \
        ["the", "i", "and", "of", "a", "to", "was", "in", "that", "my"]
    assert words.token_freqs[0] == ("the", 2261)
    # the data module: windows of num_steps, Y the inputs shifted by one
    assert data.X.shape == (173418, 10) and data.X.dtype == torch.int64
    assert bool((data.X[:, 1:] == data.Y[:, :-1]).all())
    X, Y = next(iter(data.train_dataloader()))
    assert X.shape == (2, 10) and Y.shape == (2, 10)
    assert len(data.val_dataloader()) == 5000 // 2


def test_vocab_reserved_tokens_min_freq_and_unknowns():
    vocab = d2l.Vocab([["a", "b", "b"], ["c", "b"]], min_freq=2, reserved_tokens=["<pad>"])
    assert vocab.idx_to_token == ["<pad>", "<unk>", "b"]
    assert vocab["b"] == 2 and vocab["zzz"] == vocab.unk == 1
    assert vocab[["b", "a"]] == [2, 1]
    assert vocab.to_tokens(2) == "b" and vocab.to_tokens([2, 0]) == ["b", "<pad>"]
    assert vocab.to_tokens(torch.tensor([2])) == "b"  # one index gives one token, as d2l
    assert d2l.tokenize(["ab c"]) == [["ab", "c"]]
    assert d2l.tokenize(["ab"], "char") == [["a", "b"]]
    with pytest.raises(AssertionError, match="Unknown token type: byte"):
        d2l.tokenize(["ab"], "byte")


def test_check_shape_and_len_messages():
    d2l.check_shape(torch.ones(2, 3), (2, 3))
    with pytest.raises(AssertionError, match=r"tensor's shape .*2, 3.* != expected shape \(3, 2\)"):
        d2l.check_shape(torch.ones(2, 3), (3, 2))
    with pytest.raises(AssertionError, match="list's length 2 != expected length 3"):
        d2l.check_len([1, 2], 3)


def test_rnn_scratch_shapes_of_the_book():
    batch_size, num_inputs, num_hiddens, num_steps = 2, 16, 32, 100
    rnn = d2l.RNNScratch(num_inputs, num_hiddens)
    X = d2l.ones((num_steps, batch_size, num_inputs))
    outputs, state = rnn(X)
    d2l.check_len(outputs, num_steps)
    d2l.check_shape(outputs[0], (batch_size, num_hiddens))
    d2l.check_shape(state, (batch_size, num_hiddens))
    model = d2l.RNNLMScratch(rnn, num_inputs)
    outputs = model(d2l.ones((batch_size, num_steps), dtype=d2l.int64))
    d2l.check_shape(outputs, (batch_size, num_steps, num_inputs))
    assert {n for n, _ in model.named_parameters()} == \
        {"W_hq", "b_q", "rnn.W_xh", "rnn.W_hh", "rnn.b_h"}


def test_gru_and_concise_rnn_shapes():
    gru = d2l.GRU(num_inputs=5, num_hiddens=8, num_layers=2)
    out, H = gru(torch.ones(3, 4, 5))
    assert out.shape == (3, 4, 8) and H.shape == (2, 4, 8)
    model = d2l.RNNLM(d2l.RNN(num_inputs=5, num_hiddens=8), vocab_size=5)
    assert model(torch.zeros(4, 3, dtype=torch.int64)).shape == (4, 3, 5)


def test_grad_clipping_and_trainer_clip_gradients():
    net = torch.nn.Linear(3, 1, bias=False)
    net.weight.grad = torch.tensor([[3.0, 4.0, 0.0]])
    d2l.grad_clipping(net, 1.0)
    assert net.weight.grad.tolist()[0] == pytest.approx([0.6, 0.8, 0.0])
    net.weight.grad = torch.tensor([[3.0, 4.0, 0.0]])
    d2l.Trainer(max_epochs=1).clip_gradients(10.0, net)  # below the threshold: unchanged
    assert net.weight.grad.tolist() == [[3.0, 4.0, 0.0]]


@needs_text
def test_rnn_language_models_lower_perplexity_and_predict(shared_data, capsys):
    torch.manual_seed(0)
    data = d2l.TimeMachine(batch_size=256, num_steps=16, num_train=2048, num_val=512)
    rnn = d2l.RNNScratch(num_inputs=len(data.vocab), num_hiddens=32)
    model = d2l.RNNLMScratch(rnn, vocab_size=len(data.vocab), lr=1)
    trainer = d2l.Trainer(max_epochs=2, gradient_clip_val=1, num_gpus=1)
    trainer.fit(model, data)
    ppl = [p.y for p in model.board.data["train_ppl"]]
    assert ppl[-1] < ppl[0] < 30
    val = model.board.data["val_ppl"]
    assert len(val) == 2 and val[-1].y < val[0].y
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.match(r"epoch 2/2  train_ppl [\d.]+  val_ppl [\d.]+  ", lines[-1])
    text = model.predict("it has", 20, data.vocab, d2l.try_gpu())
    assert len(text) == 26 and text.startswith("it has")

    concise = d2l.RNNLM(d2l.RNN(num_inputs=len(data.vocab), num_hiddens=32),
                        vocab_size=len(data.vocab), lr=1)
    d2l.Trainer(max_epochs=1, gradient_clip_val=1, num_gpus=1).fit(concise, data)
    assert len(concise.board.data["val_ppl"]) == 1
    assert concise.board.data["val_ppl"][0].y < 28
