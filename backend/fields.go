package backend

// Field implements selector.Fields over a queued message: the JMS header
// fields ActiveMQ exposes to selectors, then user properties.
func (e *entry) Field(name string) (any, bool) {
	m := e.msg
	if len(name) > 3 && name[:3] == "JMS" {
		switch name {
		case "JMSDeliveryMode":
			if m.Persistent {
				return "PERSISTENT", true
			}
			return "NON_PERSISTENT", true
		case "JMSPriority":
			return int64(m.Priority), true
		case "JMSMessageID":
			return m.ID, true
		case "JMSTimestamp":
			return m.Timestamp, true
		case "JMSCorrelationID":
			return m.CorrelationID, m.CorrelationID != ""
		case "JMSType":
			return m.Type, m.Type != ""
		case "JMSExpiration":
			return m.Expiration, true
		case "JMSDestination":
			return m.Dest.String(), true
		case "JMSReplyTo":
			return m.ReplyTo.String(), !m.ReplyTo.IsZero()
		case "JMSXDeliveryCount":
			return int64(e.deliveries) + 1, true
		case "JMSXGroupID":
			return m.GroupID, m.GroupID != ""
		case "JMSXGroupSeq":
			return int64(m.GroupSeq), m.GroupID != ""
		}
	}
	return m.Prop(name)
}
