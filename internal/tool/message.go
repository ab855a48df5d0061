package tool

import (
	"context"
	"strings"

	"gatehouse/internal/llm"
)

// maxMessage caps one message the agent sends with the message tool.
const maxMessage = 4000

// MessageTool is the message tool: send text to the chat the turn
// answers, before the final reply (a progress note, say). It can reach
// no other chat: the destination is the turn's own, never an argument.
type MessageTool struct{}

var _ Tool = MessageTool{}

// Spec describes message to the model.
func (MessageTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        NameMessage,
		Description: "Send a message to the current chat right away, before your final reply (for example a progress note). It can only reach the current chat.",
		Parameters:  schema([]string{"text"}, `"text":{"type":"string","description":"The message"}`),
	}
}

// Run sends the message through call.Say.
func (MessageTool) Run(ctx context.Context, call Call) (Result, error) {
	var a struct {
		Text string `json:"text"`
	}
	if err := DecodeArgs(call.Args, &a); err != nil {
		return Errorf("message: %v", err), nil
	}
	text := strings.TrimSpace(a.Text)
	switch {
	case text == "":
		return Errorf("message: text is empty"), nil
	case len(text) > maxMessage:
		return Errorf("message: text is %d bytes, over the limit of %d: split it or put it in the reply", len(text), maxMessage), nil
	case call.Say == nil:
		return Errorf("message: this conversation has no chat to send to; put the text in your reply"), nil
	}
	if err := call.Say(ctx, text); err != nil {
		return Errorf("message: not sent: %v", err), nil
	}
	return Result{Text: "sent", SideEffects: true}, nil
}
