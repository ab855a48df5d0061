package gateway

import (
	"reflect"

	"gatehouse/internal/config"
)

var secretType = reflect.TypeFor[config.Secret]()

// redactConfig returns a deep copy of cfg in which every plaintext secret
// reads "[redacted]"; references ({"secret": NAME}, "${VAR}") stay as
// written, since they hold no value. It walks the value rather than naming
// fields, so a secret added to the schema later is covered too.
func redactConfig(cfg *config.Config) *config.Config {
	return redactValue(reflect.ValueOf(cfg)).Interface().(*config.Config)
}

func redactValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == secretType {
			s := v.Interface().(config.Secret)
			if s.Plain != "" {
				s.Plain = config.Redacted
			}
			return reflect.ValueOf(s)
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(redactValue(v.Field(i)))
			}
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(redactValue(v.Elem()))
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), redactValue(it.Value()))
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(redactValue(v.Index(i)))
		}
		return out
	case reflect.Array:
		out := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			out.Index(i).Set(redactValue(v.Index(i)))
		}
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(redactValue(v.Elem()))
		return out
	}
	return v
}
